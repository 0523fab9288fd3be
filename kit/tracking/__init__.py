"""Video tracking around the model: `session` (a whole video in one call), `tracker` (explicit state), `crops`,
video I/O (`video`), `drawing` and box files (`boxfiles`)."""

"""Video tracking around the model: crops, tracker state, video I/O."""

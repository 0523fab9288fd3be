"""Model weights as files. `loading.load_model(ref)` loads any reference (a path, `hf://owner/repo`,
`official`, or the bundled default); underneath: `checkpoint` (the official checkpoint and our safetensors
format), `files` (the one `torch.load`, strict loading, `CheckpointError`), `refs` (reference syntax),
`pretrained` (encoder weights from offline packages), `official` (the authors' checkpoint fetched and converted
once), `convert`, and `hub` (publishing). Command line: `python -m kit.weights {fetch,convert,info,push}`."""

"""The browser demo (Gradio): `app.py` builds the page, `pipeline.py` does the work without Gradio,
`config.py` holds the model choice and the caps."""

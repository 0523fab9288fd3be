"""The browser demo (Gradio). For now a placeholder page; the real demo is a later issue."""

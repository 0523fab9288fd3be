"""Model weights as files: the authors' released checkpoint fetched and converted in one step
(`official`), conversion between the formats we read (`convert`), and publishing to the Hub (`hub`).
Command line: `python -m kit.weights {fetch,convert,info,push}`."""

"""Fine-grained AI feedback on raw UltraFeedback rows: four aspect ratings per completion and a critique.

`annotate.annotate_file` is the entry point; `rubric` loads the versioned prompt data,
`requests` builds the judge's messages, `parse` reads its replies and `journal` makes a run
resumable. Any `ChatModel` can judge: the OpenAI-compatible client or an in-process backend.
"""

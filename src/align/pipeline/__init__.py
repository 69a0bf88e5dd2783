"""The UltraFeedback pipeline itself: completions from a model pool, then fine-grained AI feedback.

instructions --`align generate`--> raw rows without annotations --`align annotate`--> raw
UltraFeedback rows (the schema `align binarize` reads). The method follows Cui et al.,
"UltraFeedback: Boosting Language Models with Scaled AI Feedback" (arXiv 2310.01377, section 2)
and OpenBMB/UltraFeedback's src/comparison_data_generation and src/data_annotation
(commit bf80fd46a8c6ceecc86e8babb1ae8771f26a3cbb); the prompts are this project's own.
"""

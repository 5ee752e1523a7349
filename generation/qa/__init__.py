"""Q&A generation: prompts, strict parsers, distilabel Tasks, model-free checks, dedup.

Light modules (prompts, parsing, checks, dedup) import nothing heavy at import time;
`tasks` imports distilabel, so import it only where a pipeline is built.
"""

"""The dataset store: versioned, verified, frozen dataset versions and what describes them.

A version is a folder of split files in every training format (formats.py), a manifest whose hashes
`verify` checks (versions.py), a dataset card by Hugging Face conventions (card.py), an HTML report
(report.py, stats.py), a diff between two versions (compare.py) and an optional Hub push (hub.py).
Export (curation/) writes versions; finetune and eval read them. It is core: it imports no stage.
"""

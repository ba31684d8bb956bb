"""Generation: retrieved chunks in, an answer that cites them out.

``prompts`` (retrieved text delimited as data), ``citations`` (parse, clean and check ``[n]``),
``budget`` (what fits the model's context), ``chains`` (stuff, map-reduce, refine), ``extract``
(the model-free chain), ``ask`` (one question end to end, with its trace) and ``chat`` (a
conversation kept in SQLite).
"""

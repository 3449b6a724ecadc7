"""Forum monitoring: themes and emerging terms in lawful exports of forum posts.

tipwatch crawls nothing: it reads exports of forum posts (JSON Lines or CSV, see
:mod:`tipwatch.formats.forum_exports`), pseudonymises their authors with a keyed hash, finds
the themes of each post (:mod:`~tipwatch.forums.themes`, after the normalisation of
:mod:`~tipwatch.forums.normalise`), keeps derived features (themes with their evidence, terms,
daily counts) and the text only where the settings say so, finds emerging terms
(:mod:`~tipwatch.forums.emerging`) and writes daily series per theme, forum and language for
the trends machinery (:mod:`~tipwatch.forums.run`).
"""

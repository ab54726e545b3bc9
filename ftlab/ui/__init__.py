"""The web dashboard: `build_app(lab)` in ftlab.ui.app; one module per tab, logic in ftlab.ui.logic.

Nothing in this package imports torch or transformers: it calls `ftlab.service.Lab` and draws with
`ftlab.charts`. (Lab methods the Launch and Playground tabs call, such as `estimate` and
`predict`, import them lazily when they run.)

No traceback reaches the page: every handler catches exceptions, shows an `FtlabError`'s one
line (anything else as one "unexpected error" line, with the traceback in the server log) inline
next to the widget that caused it.
"""

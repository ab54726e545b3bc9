"""The web dashboard: `build_app(lab)` in ftlab.ui.app; one module per tab, logic in ftlab.ui.logic.

Nothing in this package imports torch or transformers: it calls `ftlab.service.Lab` and draws with
`ftlab.charts`. (Lab methods the Launch and Playground tabs call, such as `estimate` and
`predict`, import them lazily when they run.)
"""

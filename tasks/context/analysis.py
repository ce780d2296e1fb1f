"""Which analyzer runs (settings), and the one entry point: context text -> checked analysis."""

from __future__ import annotations

from typing import Any

from inferloop.core.settings import Settings, get_settings
from tasks.context.analyzer import Analyzer, LexiconAnalyzer, check_context, check_domain_hint

ANALYZERS = ("lexicon", "llm")


def analyzer_for(settings: Settings | None = None) -> Analyzer:
    """The configured analyzer: the offline lexicon one unless INFERLOOP_CONTEXT_ANALYZER=llm."""
    settings = settings or get_settings()
    if settings.context_analyzer == "llm":
        from tasks.context.llm import LLMAnalyzer

        return LLMAnalyzer(settings.context_llm_url, settings.context_llm_model, settings.context_llm_api_key,
                           settings.context_llm_timeout_seconds)
    return LexiconAnalyzer()


def analyze(context: str, domain_hint: str | None = None, settings: Settings | None = None) -> dict[str, Any]:
    """Check the input (400 on empty or oversized text, unknown hint), then analyze it."""
    settings = settings or get_settings()
    check_context(context, settings.context_max_bytes)
    hint = check_domain_hint(domain_hint)
    return analyzer_for(settings).analyze(context, hint)

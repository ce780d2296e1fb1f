"""Analyzers: free text -> domain, entities, fields, relationships, constraints, volumes.

One interface (`Analyzer.analyze(context, domain_hint) -> analysis`), two implementations:
- `LexiconAnalyzer` (the default, offline): keyword scores pick a known domain (tasks/context/lexicon.py);
  the entities the text names (or the domain's core ones) with their fields; fields, counts, fan-outs and
  rules the text states in recognised phrasings; nouns of a listed "with A, B and C" become entities when
  no known domain fits.
- `LLMAnalyzer` (tasks/context/llm.py), off unless configured: asks an OpenAI-compatible model for the same
  structure; its answer goes through the same normalisation.

An analysis is the documented answer of POST /context/analyze plus the full spec the generators use.
"""

from __future__ import annotations

import copy
import math
import re
from functools import lru_cache
from dataclasses import dataclass, field
from typing import Any, Protocol

from inferloop.core.errors import InferloopError
from tasks.context import lexicon as lx
from tasks.context.fields import TEMPORAL, field_words, infer_field, plural, singular, snake
from tasks.context.spec import MAX_SCHEMAS, describe, normalize_spec, public_schemas

DOMAIN_NAMES = (*lx.DOMAINS, "general")
MIN_DOMAIN_SCORE = 1.5
MAX_GENERIC = 12        # generic entities made from listed nouns
MAX_ENTITY_FIELDS = 60  # fields an entity may get from the text
STOP = {"the", "a", "an", "its", "their", "his", "her", "of", "each", "every", "all", "must", "should", "be",
        "is", "are", "always", "any", "for", "in", "on", "to", "that", "which", "whose", "it", "they", "than"}


class Analyzer(Protocol):
    """Turns a business context into an analysis (domain, requirements, schemas, rules, spec)."""

    name: str

    def analyze(self, context: str, domain_hint: str | None = None) -> dict[str, Any]: ...


def check_context(context: Any, max_bytes: int, field: str = "context") -> str:
    """The context text, or 400: it must be non-empty text of at most `max_bytes` UTF-8 bytes."""
    if not isinstance(context, str) or not context.strip():
        raise InferloopError("INVALID_REQUEST", "context must be a non-empty description of the data", field)
    size = len(context.encode("utf-8", errors="replace"))
    if size > max_bytes:
        raise InferloopError("INVALID_REQUEST", f"context is {size} bytes; at most {max_bytes} bytes are "
                             "accepted", field, extra={"max_bytes": max_bytes, "bytes": size})
    return context


def check_domain_hint(hint: Any) -> str | None:
    if hint is None or hint == "":
        return None
    if not isinstance(hint, str) or hint.strip().lower() not in DOMAIN_NAMES:
        raise InferloopError("INVALID_REQUEST", f"domain_hint must be one of {', '.join(DOMAIN_NAMES)}",
                             "domain_hint")
    return hint.strip().lower()


# --- text helpers ---------------------------------------------------------------------------------------

def _clean(text: str) -> str:
    t = text.lower().replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"')
    t = re.sub(r"[ \t\r\f\v]+", " ", t)
    return t


MAX_SENTENCE = 300      # longer runs of text are cut into pieces this long (rules are local phrases)
MAX_SENTENCES = 1500    # distinct sentences read for fields and rules
MAX_RULE_SENTENCES = 200  # sentences read as rules (each is tried against every rule phrasing)


def _pieces(part: str, limit: int = MAX_SENTENCE) -> list[str]:
    """A sentence, or pieces of at most `limit` characters cut at commas, 'and' or spaces."""
    if len(part) <= limit:
        return [part]
    out, current = [], ""
    for chunk in re.split(r"(,\s+|\s+and\s+|\s+)", part):
        if len(current) + len(chunk) > limit and current:
            out.append(current)
            current = ""
        current += chunk[:limit]
    return [*out, current] if current else out


def _sentences(text: str, clauses: bool = True, limit: int = MAX_SENTENCE) -> list[str]:
    """Distinct sentences (split further at ', and' ... when `clauses`; long ones cut into pieces of at most
    `limit` characters), in order, at most MAX_SENTENCES."""
    split = r"[.!?](?=\s|$)|[;\n]" + (r"|,\s*(?:and|while|but)\s+|\s+while\s+" if clauses else "")
    seen: dict[str, None] = {}
    for p in re.split(split, text):
        for piece in _pieces(p.strip(" ,:-\"'()"), limit):
            piece = piece.strip(" ,:-\"'()")
            if piece:
                seen.setdefault(piece, None)
                if len(seen) >= MAX_SENTENCES:
                    return list(seen)
    return list(seen)


@lru_cache(maxsize=4096)
def _alias_pattern(alias: str) -> str:
    words = alias.split()
    last = words[-1]
    if last.endswith("y") and len(last) > 2 and last[-2] not in "aeiou":
        last_re = re.escape(last[:-1]) + r"(?:y|ies)"
    elif last.endswith(("s", "x", "sh", "ch")):
        last_re = re.escape(last) + r"(?:es)?"
    else:
        last_re = re.escape(last) + r"s?"
    return r"\b" + r"[\s_-]+".join([*map(re.escape, words[:-1]), last_re]) + r"\b"


def grams(text: str) -> set[str]:
    """The text's words (singular) and runs of two and three of them: keyword lookups in one set."""
    words = [singular(w) for w in re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text)]
    out = set(words)
    out.update(" ".join(words[i:i + 2]) for i in range(len(words) - 1))
    out.update(" ".join(words[i:i + 3]) for i in range(len(words) - 2))
    return out


def has(g: set[str], phrase: str) -> bool:
    """Whether the phrase (a keyword or an alias, singular or plural) occurs in the text of `g`."""
    return " ".join(singular(w) for w in re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", phrase)) in g


NUMBER = r"\d[\d,]*(?:\.\d+)?(?:\s*(?:k|m|thousand|million|billion)\b)?"


def parse_number(text: str) -> float | None:
    m = re.fullmatch(r"\$?\s*(-?\d[\d,]*(?:\.\d+)?)\s*(k|m|thousand|million|billion|%)?", text.strip())
    if not m:
        return None
    value = float(m.group(1).replace(",", ""))
    mult = {"k": 1e3, "thousand": 1e3, "m": 1e6, "million": 1e6, "billion": 1e9}.get(m.group(2) or "", 1)
    return value * mult


def _tidy(v: float) -> int | float:
    return int(v) if float(v).is_integer() else v


FIELD_VERBS = re.compile(r"\s(?:with|including|containing|that have|having|has|have|include|includes|contain|"
                         r"contains|track|tracking|storing|store|stores)\s*:?\s+")
DATE_OP = re.compile(r"\s(?P<op>on or after|after|later than|on or before|before|earlier than|prior to)\s")
VERBS_AT_END = re.compile(r"(?:\s+(?:is|are|must be|should be|comes|come|happens|happen|occurs|occur|falls|fall|"
                          r"always|never|only|be|must|should))+\s*$")


class _Match(dict):
    """Named parts of a phrase, read like a regex match."""

    def group(self, name: str) -> str | None:
        return self.get(name)


RULE_WORDS = re.compile(r"\b(?:sum|total of|times|multiplied|after|before|later|earlier|prior|between|from|least|most|"
                        r"more|less|greater|under|over|above|below|exceeds?|positive|negative|zero|one of|either|"
                        r"any of|only|unique|required|mandatory|present|empty|null|missing|must|should|always|never|"
                        r"needs)\b|[<>*]")


def _windows(s: str, before: int = 100, after: int = 140) -> list[str]:
    """A short sentence, or the phrases around its first rule words (a rule is a local phrase; this keeps
    the rule patterns' cost bounded on long text)."""
    if len(s) <= before + after:
        return [s] if RULE_WORDS.search(s) else []
    out = []
    for m in list(RULE_WORDS.finditer(s))[:3]:
        lo = s.rfind(" ", 0, max(0, m.start() - before)) + 1
        hi = s.find(" ", min(len(s), m.end() + after))
        out.append(s[lo:hi if hi > 0 else len(s)].strip())
    return out


# --- the working model of one analysis ------------------------------------------------------------------

@dataclass
class Entity:
    name: str
    description: str
    aliases: tuple[str, ...]
    fields: list[dict[str, Any]]
    volume: float
    kind: str = "thing"
    explicit_volume: bool = False
    mentioned: bool = False


@dataclass
class Draft:
    domain: str
    entities: dict[str, Entity] = field(default_factory=dict)
    relationships: list[dict[str, Any]] = field(default_factory=list)
    constraints: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)

    def rel(self, parent: str, child: str) -> dict | None:
        return next((r for r in self.relationships if r["parent"] == parent and r["child"] == child), None)

    def owner(self, child: str) -> dict | None:
        return next((r for r in self.relationships if r["child"] == child and r["role"] == "owner"), None)

    def find_entity(self, phrase: str) -> Entity | None:
        """The entity a phrase names (its aliases or name), longest alias first."""
        best, best_len = None, 0
        for e in self.entities.values():
            for alias in (*e.aliases, e.name.replace("_", " ")):
                if len(alias) > best_len and re.search(_alias_pattern(alias), phrase):
                    best, best_len = e, len(alias)
        return best


# --- the lexicon analyzer -------------------------------------------------------------------------------

class LexiconAnalyzer:
    """Rule- and lexicon-based analysis; needs no network (docs/context.md says what it can and cannot infer)."""

    name = "lexicon"

    def analyze(self, context: str, domain_hint: str | None = None) -> dict[str, Any]:
        text = _clean(context)
        g = grams(text)
        scores = {d.name: self._score(d, g) for d in lx.DOMAINS.values()}
        ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
        top, top_score = ranked[0]
        second = ranked[1][1]
        hint = check_domain_hint(domain_hint)
        domain = hint or (top if top_score >= MIN_DOMAIN_SCORE else "general")
        if hint:
            confidence = 0.95 if hint == top or top_score < MIN_DOMAIN_SCORE else 0.8
        elif domain == "general":
            confidence = 0.3
        else:
            confidence = 0.5 + 0.5 * (1 - math.exp(-(top_score - second) / 3))
        draft = Draft(domain)
        if domain != "general":
            self._domain_entities(draft, lx.DOMAINS[domain], g)
        lines = _sentences(text, clauses=False, limit=1000)  # whole sentences: lists keep their commas
        self._listed_entities(draft, lines)
        if not draft.entities:
            raise InferloopError("INVALID_REQUEST", "no data entities could be found in the context; name what "
                                 "the data is about (e.g. 'customers with orders and their lines') or give "
                                 f"domain_hint ({', '.join(lx.DOMAINS)})", "context")
        sentences = _sentences(text)
        if len(sentences) >= MAX_SENTENCES or len(lines) >= MAX_SENTENCES:
            draft.notes.append(f"a long context: only its first {MAX_SENTENCES} distinct sentences were read for "
                               "entities, fields, counts and rules (keywords were read in all of it)")
        fanout_spans = self._fanouts(draft, sentences)
        self._volumes(draft, lines, fanout_spans)
        for s in sentences:
            self._fields_from(draft, s)
        self._propagate_volumes(draft)
        self._domain_rules(draft, lx.DOMAINS.get(domain))
        ruled = [s for s in sentences if RULE_WORDS.search(s)]
        if len(ruled) > MAX_RULE_SENTENCES:
            draft.notes.append(f"{len(ruled)} sentences look like rules; only the first {MAX_RULE_SENTENCES} were "
                               "read as rules")
        for s in ruled[:MAX_RULE_SENTENCES]:
            self._rules_from(draft, s)
        return finish(draft, round(min(confidence, 0.99), 2), self.name)

    # -- domain and entities --
    @staticmethod
    def _score(d: lx.DomainDef, g: set[str]) -> float:
        score = sum(w for kw, w in d.keywords.items() if has(g, kw))
        score += sum(1.0 for e in d.entities if any(has(g, a) for a in (*e.aliases, e.name.replace("_", " "))))
        return score

    def _domain_entities(self, draft: Draft, d: lx.DomainDef, g: set[str]) -> None:
        draft.keywords += [kw for kw in d.keywords if has(g, kw)]
        named = [e for e in d.entities if any(has(g, a) for a in (*e.aliases, e.name.replace("_", " ")))]
        chosen = {e.name for e in named} or set(d.core)
        if not named:
            draft.notes.append(f"no {d.name} entity was named; proposing the domain's core ones: "
                               f"{', '.join(d.core)}")
        grew = True
        while grew:  # owner parents of chosen entities come along (their rows own the children's)
            grew = False
            for r in d.relationships:
                if r.role == "owner" and r.child in chosen and r.parent not in chosen:
                    chosen.add(r.parent)
                    grew = True
        for e in d.entities:
            if e.name in chosen:
                draft.entities[e.name] = Entity(e.name, e.description, e.aliases, copy.deepcopy(e.fields),
                                                e.volume, e.kind, mentioned=e in named)
        for r in d.relationships:
            if r.parent in chosen and r.child in chosen:
                draft.relationships.append({"parent": r.parent, "child": r.child, "role": r.role,
                                            "min_children": r.min_children, "max_children": r.max_children,
                                            "mean_children": r.mean_children})
            elif r.child in chosen and r.role == "lookup":
                draft.notes.append(f"'{r.child}' could reference '{r.parent}'; name {r.parent} in the context "
                                   "to generate them too")
        for e in named:
            draft.keywords.append(e.name)

    def _listed_entities(self, draft: Draft, lines: list[str]) -> None:
        """Nouns listed after 'with', 'including', ... that are no known entity become generic entities."""
        found: list[str] = []
        text = "\n".join(lines)
        for m in re.finditer(r"\b(?:with|including|includes|include|covering|tracking|tracks|track|manage|"
                             r"manages|managing|containing|contains|of|for|has|have)\s+([a-z0-9 ,/&'\-]+)", text):
            items = [i.strip() for i in re.split(r",|\band\b|\bor\b|&|/", m.group(1)) if i.strip()]
            if len(items) < 2 and not draft.entities and not found:
                items = items if re.search(r"\b(?:with|including)\b", m.group(0)) else []
            known_here = any(draft.find_entity(i) for i in items)
            if draft.domain != "general" and not known_here:
                continue
            for item in items:
                noun = self._noun(item)
                if noun and not draft.find_entity(item) and noun not in found:
                    found.append(noun)
        for m in re.finditer(r"\b([a-z]+)\s+(?:records|management|scheduling|tracking|history|database|logs)\b",
                             text):
            noun = self._noun(m.group(1))
            if noun and draft.domain == "general" and not draft.find_entity(m.group(1)) and noun not in found:
                found.append(noun)
        room = max(0, min(MAX_GENERIC, MAX_SCHEMAS - len(draft.entities)))
        if len(found) > room:
            draft.notes.append(f"{len(found) - room} more listed noun(s) were not made schemas (at most "
                               f"{MAX_SCHEMAS} schemas): {', '.join(found[room:room + 10])}")
            found = found[:room]
        for noun in found:
            self._add_generic(draft, noun)
        if found:
            self._guess_relationships(draft, found)

    @staticmethod
    def _noun(item: str) -> str | None:
        words = [w for w in re.findall(r"[a-z]+", item) if w not in lx.FILLER_WORDS and w not in STOP]
        if not words or len(words) > 3 or any(len(w) < 3 for w in words[-1:]):
            return None
        if words[-1] in ("date", "name", "email", "phone", "address", "price", "amount", "status", "id",
                         "number", "total", "time", "type", "count", "value"):
            return None
        words = words[-2:]
        return "_".join([*words[:-1], plural(singular(words[-1]))])

    def _add_generic(self, draft: Draft, name: str) -> None:
        head = singular(name.split("_")[-1])
        label = name.replace("_", " ")
        if head in lx.PERSON_NOUNS:
            kind, fields, volume = "person", [infer_field("first_name"), infer_field("last_name"),
                                              infer_field("email", unique=True), infer_field("phone", required=False),
                                              infer_field("city"), infer_field("created_at")], 1000
        elif head in lx.EVENT_NOUNS:
            kind, fields, volume = "event", [infer_field(f"{head}_date", type="DATETIME"),
                                             infer_field("status"), infer_field("notes", required=False)], 3000
        elif head in lx.DOCUMENT_NOUNS:
            kind, fields, volume = "document", [infer_field("title", faker="catch_phrase"),
                                                infer_field("created_date"), infer_field("content")], 2000
        else:
            kind, fields, volume = "thing", [infer_field("name", type="STRING", faker="catch_phrase"),
                                             infer_field("category"), infer_field("created_at"),
                                             infer_field("is_active", probability=0.9)], 200
        draft.entities[name] = Entity(name, f"{label.capitalize()} (generic entity: its fields are guessed from "
                                            f"its name)", (singular(label), label), fields, volume, kind,
                                      mentioned=True)
        draft.keywords.append(name)

    @staticmethod
    def _guess_relationships(draft: Draft, new: list[str]) -> None:
        ents = list(draft.entities.values())
        people = [e for e in ents if e.kind == "person"]
        events = [e for e in ents if e.kind == "event"]
        main = people[0] if people else ents[0]
        for name in new:
            e = draft.entities[name]
            if e is main or draft.owner(name) or e.kind == "person":
                continue
            if e.kind == "thing" and people:
                continue  # a catalogue of its own (products, rooms, ...)
            parent = events[0] if e.kind == "document" and events and events[0] is not e else main
            if parent is e:
                continue
            draft.relationships.append({"parent": parent.name, "child": name, "role": "owner", "min_children": 0,
                                        "max_children": None, "mean_children": 3.0})
            draft.notes.append(f"guessed: each {singular(parent.name)} has {name} (say 'each "
                               f"{singular(parent.name)} has N {name}' to set how many)")

    # -- counts and fan-outs --
    def _volumes(self, draft: Draft, lines: list[str], skip: list[str]) -> None:
        for m in re.finditer(rf"(?<![\w.])({NUMBER})\s+([a-z][a-z \-]*)", "\n".join(lines)):
            if any(m.group(0).strip() in span or span in m.group(0) for span in skip):
                continue  # part of "each order has 1 to 5 lines": a fan-out, not a volume
            n = parse_number(m.group(1))
            found = self._entity_at_start(draft, m.group(2))
            if n is None or n < 1 or found is None:
                continue
            e, end = found
            if re.match(r"\s*(?:per|for each|for every|each)\b", m.group(2)[end:]):
                continue  # "3 accounts per customer": a fan-out, not a volume
            e.volume, e.explicit_volume = n, True

    @staticmethod
    def _entity_at_start(draft: Draft, phrase: str) -> tuple[Entity, int] | None:
        """The entity whose alias starts `phrase` (longest first) and where that alias ends."""
        best: tuple[Entity, int] | None = None
        for e in draft.entities.values():
            for alias in (*e.aliases, e.name.replace("_", " ")):
                m = re.match(_alias_pattern(alias), phrase)
                if m and (best is None or m.end() > best[1]):
                    best = (e, m.end())
        return best

    def _fanouts(self, draft: Draft, sentences: list[str]) -> list[str]:
        """Children per parent ('each customer has up to 3 accounts'); returns the phrases it used."""
        used: list[str] = []
        q = r"(?P<q>up to|at most|at least|between|about|around|roughly|approximately|on average|~)?\s*"
        n = r"(?P<n>\d+(?:\.\d+)?)(?:\s*(?:-|to|and)\s*(?P<n2>\d+(?:\.\d+)?))?"
        patterns = [
            re.compile(rf"\b(?:each|every|a|one|per)\s+(?P<parent>[a-z _]{{1,40}}?)\s+(?:has|have|holds?|owns?|places?|"
                       rf"makes?|gets?|contains?|includes?|can have|may have|with)\s+{q}{n}\s+(?P<child>[a-z _]{{1,40}})"),
            re.compile(rf"{q}{n}\s+(?P<child>[a-z _]{{1,40}}?)\s+(?:per|for each|for every|each)\s+(?P<parent>[a-z _]{{1,40}})"),
        ]
        for s in sentences:
            for p in patterns:
                for m in p.finditer(s):
                    parent, child = draft.find_entity(m.group("parent")), draft.find_entity(m.group("child"))
                    if parent is None or child is None or parent is child:
                        continue
                    r = draft.rel(parent.name, child.name)
                    if r is None and draft.owner(child.name) is None and not self._is_ancestor(draft, child.name,
                                                                                              parent.name):
                        r = {"parent": parent.name, "child": child.name, "role": "owner", "min_children": 0,
                             "max_children": None, "mean_children": 3.0}
                        draft.relationships.append(r)
                    if r is None or r["role"] != "owner":
                        continue
                    used.append(m.group(0))
                    a, b = float(m.group("n")), m.group("n2")
                    qual = (m.group("q") or "").strip()
                    if b is not None:
                        lo, hi = sorted((a, float(b)))
                        r.update(min_children=int(lo), max_children=int(hi), mean_children=(lo + hi) / 2)
                    elif qual in ("up to", "at most"):
                        r.update(max_children=int(a), mean_children=min(r["mean_children"], max(a / 2, r["min_children"])),
                                 min_children=min(r["min_children"], int(a)))
                    elif qual == "at least":
                        r.update(min_children=int(a), mean_children=max(r["mean_children"], a * 1.5))
                        if r["max_children"] is not None and r["max_children"] < a:
                            r["max_children"] = int(a * 3)
                    else:
                        r["mean_children"] = a
                        if r["max_children"] is not None and r["max_children"] < a:
                            r["max_children"] = int(math.ceil(a * 2))
                        r["min_children"] = min(r["min_children"], int(a))
        return used

    @staticmethod
    def _is_ancestor(draft: Draft, maybe: str, of: str) -> bool:
        cur, seen = draft.owner(of), set()
        while cur and cur["parent"] not in seen:
            if cur["parent"] == maybe:
                return True
            seen.add(cur["parent"])
            cur = draft.owner(cur["parent"])
        return False

    @staticmethod
    def _propagate_volumes(draft: Draft) -> None:
        for _ in range(len(draft.entities)):
            for r in draft.relationships:
                if r["role"] != "owner":
                    continue
                p, c = draft.entities[r["parent"]], draft.entities[r["child"]]
                if p.explicit_volume and c.explicit_volume:
                    r["mean_children"] = c.volume / p.volume
                    if r["max_children"] is not None and r["max_children"] < r["mean_children"]:
                        r["max_children"] = int(math.ceil(r["mean_children"] * 2))
                    r["min_children"] = min(r["min_children"], int(r["mean_children"]))
                elif p.explicit_volume or (not c.explicit_volume and p.volume):
                    c.volume = max(1.0, p.volume * r["mean_children"])
                    c.explicit_volume = c.explicit_volume or p.explicit_volume
                elif c.explicit_volume and r["mean_children"] > 0:
                    p.volume = max(1.0, c.volume / r["mean_children"])
                    p.explicit_volume = True

    # -- fields --
    def _fields_from(self, draft: Draft, s: str) -> None:
        for m in FIELD_VERBS.finditer(s):
            head = s[max(0, m.start() - 60):m.start()]
            head = re.sub(r"\s+(?:records?|data|entries)$", "", head.strip())
            e = draft.find_entity(head.split(" with ")[-1][-40:]) if head else None
            if e is None:
                continue
            tail = s[m.end():m.end() + 400]
            items = [i.strip() for i in re.split(r",|\band\b|\bor\b|\bplus\b|&", tail) if i.strip()]
            for item in items:
                words = [w for w in re.findall(r"[a-z0-9]+", item) if w not in STOP]
                words = [w for w in words if w not in ("field", "fields", "column", "columns", "attribute",
                                                       "attributes", "info", "information", "details")]
                if not words or len(words) > 4 or words[0].isdigit() or draft.find_entity(" ".join(words)):
                    continue
                name = snake(" ".join(words))
                if self._has_field(e, words, name) or len(e.fields) >= MAX_ENTITY_FIELDS:
                    continue
                e.fields.append(infer_field(name))
                draft.keywords.append(name)

    @staticmethod
    def _has_field(e: Entity, words: list[str], name: str) -> bool:
        want = {singular(w) for w in words}
        names = {f["name"] for f in e.fields}
        if name == "name" and {"first_name", "last_name"} <= names:
            return True
        return any(f["name"] == name or field_words(f["name"]) == want for f in e.fields)

    # -- rules --
    def _domain_rules(self, draft: Draft, d: lx.DomainDef | None) -> None:
        if d is None:
            return
        for rule in d.rules:
            if rule["schema"] not in draft.entities:
                continue
            if rule["type"] == "sum" and rule["child"] not in draft.entities:
                continue
            if rule["type"] == "date_order" and "." in rule["after"] and \
                    rule["after"].split(".")[0] not in draft.entities:
                continue
            draft.constraints.append({**copy.deepcopy(rule), "source": "domain"})

    def _rules_from(self, draft: Draft, sentence: str) -> None:
        for s in _windows(sentence):
            for parse in (self._sum_rule, self._product_rule, self._date_rule, self._range_rule, self._bound_rule,
                          self._positive_rule, self._one_of_rule, self._unique_rule, self._required_rule):
                rule = parse(draft, s)
                if rule:
                    rule.update(source="context", text=s)
                    self._add_rule(draft, rule)
                    return
        s = sentence
        if re.search(r"\b(must|should|always|never|only|sum of|after|before|between|at least|at most|unique)\b",
                     s) and not re.search(r"\b(?:per|each|every)\b", s):
            draft.notes.append(f"not understood as a rule: '{s[:120]}'")

    @staticmethod
    def _add_rule(draft: Draft, rule: dict) -> None:
        key = (rule["schema"], rule["field"], rule["type"])
        draft.constraints = [c for c in draft.constraints if (c["schema"], c["field"], c["type"]) != key]
        if rule["type"] in ("sum", "product", "date_order"):  # one way to derive a field
            draft.constraints = [c for c in draft.constraints if not (
                (c["schema"], c["field"]) == (rule["schema"], rule["field"])
                and c["type"] in ("sum", "product", "date_order"))]
        draft.constraints.append(rule)

    def resolve(self, draft: Draft, phrase: str, sentence: str, create: str | None = None
                ) -> tuple[Entity, dict] | None:
        """(entity, field) a phrase like 'order total' or 'the ship date' names; `create` adds a missing field
        of that type family to the named (or only) entity of the sentence."""
        phrase = phrase.strip()
        words = [w for w in re.findall(r"[a-z0-9]+", phrase) if w not in STOP]
        if not words:
            return None
        e = draft.find_entity(" ".join(words))
        candidates = [e] if e else list(draft.entities.values())
        want_all = {singular(w) for w in words}
        rest = want_all
        if e is not None:
            alias_words = set()
            for a in (*e.aliases, e.name.replace("_", " ")):
                if re.search(_alias_pattern(a), " ".join(words)):
                    alias_words |= {singular(w) for w in a.split()}
            rest = want_all - alias_words
        best, best_score = None, 0.0
        for ent in candidates:
            for f in ent.fields:
                if f.get("references") or f["name"] == "id":
                    continue
                fw = field_words(f["name"])
                score = max(len(want_all & fw) / len(want_all | fw), (len(rest & fw) / len(rest | fw)) if rest else 0)
                if snake(" ".join(words)) == f["name"]:
                    score = 2.0
                if score > best_score:
                    best, best_score = (ent, f), score
        if best and best_score >= 0.5:
            return best
        if create is None or not rest:
            return best if best and best_score > 0 else None
        owner = e or self._sentence_entity(draft, sentence)
        if owner is None or len(owner.fields) >= MAX_ENTITY_FIELDS:
            return None
        f = infer_field(" ".join(w for w in words if singular(w) in rest))
        if create == "date" and f["type"] not in TEMPORAL:
            f = infer_field(f["name"], type="DATE", min="2022-01-01", max="2024-12-31")
        if create == "number" and f["type"] not in ("INTEGER", "FLOAT", "DECIMAL"):
            f = infer_field(f["name"], type="FLOAT", min=0, max=1000)
        owner.fields.append(f)
        draft.notes.append(f"added field {owner.name}.{f['name']} ({f['type']}) named in a rule")
        return owner, f

    @staticmethod
    def _sentence_entity(draft: Draft, sentence: str) -> Entity | None:
        named = [e for e in draft.entities.values()
                 if any(re.search(_alias_pattern(a), sentence) for a in (*e.aliases, e.name.replace("_", " ")))]
        return named[0] if len(named) == 1 else None

    def _sum_rule(self, draft: Draft, s: str) -> dict | None:
        m = re.search(r"(?P<a>[a-z _']{1,60}?)\s+(?:is|equals|=|must equal|should equal|must be|should be|has to be|"
                      r"matches|always equals)\s+(?:equal to\s+|exactly\s+)?(?:the\s+)?(?:sum|total)\s+of\s+"
                      r"(?P<b>[a-z _']{1,60})", s)
        if not m:
            return None
        target = self.resolve(draft, m.group("a").replace("'s", ""), s, create="number")
        child = draft.find_entity(m.group("b"))
        if target is None or child is None:
            return None
        parent_e, f = target
        owner = draft.owner(child.name)
        if owner is None or owner["parent"] != parent_e.name:
            draft.notes.append(f"'{s[:80]}': {child.name} rows do not belong to {parent_e.name}")
            return None
        cf = self.resolve(draft, m.group("b"), s)
        if cf is None or cf[0] is not child or cf[1]["type"] not in ("INTEGER", "FLOAT", "DECIMAL"):
            nums = [g for g in child.fields if g["type"] in ("DECIMAL", "FLOAT") and not g.get("references")]
            pref = sorted(nums, key=lambda g: next((i for i, k in enumerate(("line_total", "total", "amount",
                                                                             "subtotal", "price", "cost"))
                                                    if k in g["name"]), 9))
            if not pref:
                return None
            cf = (child, pref[0])
        return {"type": "sum", "schema": parent_e.name, "field": f["name"], "child": child.name,
                "child_field": cf[1]["name"]}

    def _product_rule(self, draft: Draft, s: str) -> dict | None:
        m = re.search(r"(?P<a>[a-z _]{1,60}?)\s+(?:is|equals|=|must be|should be)\s+(?:the\s+)?(?P<b>[a-z _]{1,60}?)\s+"
                      r"(?:times|multiplied by|x|\*)\s+(?:the\s+)?(?P<c>[a-z _]{1,60})", s)
        if not m:
            return None
        a = self.resolve(draft, m.group("a"), s, create="number")
        if a is None:
            return None
        b, c = self.resolve(draft, m.group("b"), s), self.resolve(draft, m.group("c"), s)
        if not b or not c or b[0] is not a[0] or c[0] is not a[0] or a[1] in (b[1], c[1]):
            return None
        return {"type": "product", "schema": a[0].name, "field": a[1]["name"],
                "fields": [b[1]["name"], c[1]["name"]]}

    def _date_rule(self, draft: Draft, s: str) -> dict | None:
        m = DATE_OP.search(s)
        if not m:
            return None
        a_text = VERBS_AT_END.sub("", s[max(0, m.start() - 60):m.start()]).strip()
        b_text = re.sub(r"^the\s+", "", s[m.end():m.end() + 80].strip())
        days = re.search(r"\s+(?:by|within)\s+(?:up to\s+)?(?P<days>\d+)\s+days?", b_text)
        b_text = re.split(r"\s+(?:by|within)\s+|[^a-z _]", b_text[:days.start()] if days else b_text)[0]
        if not a_text or not b_text:
            return None
        m = _Match(a=a_text, b=b_text, op=m.group("op"), days=days.group("days") if days else None)
        a = self.resolve(draft, m.group("a"), s, create="date")
        b = self.resolve(draft, m.group("b"), s, create="date")
        if a is None or b is None or a[1] is b[1]:
            return None
        (ea, fa), (eb, fb) = (a, b) if "after" in m.group("op") or "later" in m.group("op") else (b, a)
        if fa["type"] not in TEMPORAL or fb["type"] not in TEMPORAL:
            return None
        if ea is eb:
            after = fb["name"]
        elif draft.owner(ea.name) and draft.owner(ea.name)["parent"] == eb.name:
            after = f"{eb.name}.{fb['name']}"
        else:
            draft.notes.append(f"'{s[:80]}': {ea.name} rows do not belong to {eb.name}; rule skipped")
            return None
        days = int(m.group("days")) if m.group("days") else None
        or_equal = "on or" in m.group("op")
        return {"type": "date_order", "schema": ea.name, "field": fa["name"], "after": after,
                "min_days": 0 if or_equal else 1, "max_days": days or (30 if ea is eb else 365),
                "or_equal": or_equal}

    def _range_rule(self, draft: Draft, s: str) -> dict | None:
        m = re.search(r"(?P<a>[a-z _]{1,60}?)\s+(?:(?:is|are|must be|should be|ranges?|lies?|lie|vary|varies|"
                      r"always)\s+)*(?:between|from)\s+(?P<lo>\$?-?[\d,.]+\s*(?:k|m)?|\d{4}-\d\d-\d\d)\s+"
                      r"(?:and|to|-)\s+(?P<hi>\$?-?[\d,.]+\s*(?:k|m)?|\d{4}-\d\d-\d\d)", s)
        if not m:
            return None
        dates = re.fullmatch(r"\d{4}-\d\d-\d\d", m.group("lo").strip())
        t = self.resolve(draft, re.sub(r"\bages?d?\b", "age", m.group("a")), s, create="date" if dates else "number")
        if t is None:
            return None
        if dates:
            lo, hi = m.group("lo").strip(), m.group("hi").strip()
        else:
            lo, hi = parse_number(m.group("lo")), parse_number(m.group("hi"))
            if lo is None or hi is None:
                return None
            lo, hi = _tidy(min(lo, hi)), _tidy(max(lo, hi))
        return {"type": "range", "schema": t[0].name, "field": t[1]["name"], "min": lo, "max": hi}

    def _bound_rule(self, draft: Draft, s: str) -> dict | None:
        m = re.search(r"(?P<a>[a-z _]{1,60}?)\s+(?:(?:is|are|must be|should be|must|should|always|never)\s+)*"
                      r"(?P<op>at least|at most|no more than|no less than|not more than|not less than|greater than|"
                      r"more than|less than|under|over|above|below|exceeds?|>=|<=|>|<)\s+(?:be\s+)?"
                      r"(?P<v>\$?-?[\d,.]+\s*(?:k|m)?)(?:\s|$)", s)
        if not m:
            return None
        v = parse_number(m.group("v"))
        t = self.resolve(draft, m.group("a"), s, create="number")
        if v is None or t is None or t[1]["type"] not in ("INTEGER", "FLOAT", "DECIMAL"):
            return None
        f = t[1]
        upper = m.group("op") in ("at most", "no more than", "not more than", "less than", "under", "below", "<=",
                                  "<")
        strict = m.group("op") in ("greater than", "more than", "less than", "under", "over", "above", "below",
                                   "exceed", "exceeds", ">", "<")
        step = 1 if f["type"] == "INTEGER" else 10 ** -f.get("decimals", 2)
        v = v - step if (upper and strict) else v + step if strict else v
        lo, hi = (f.get("min", 0), v) if upper else (v, max(f.get("max", v), v))
        if lo > hi:
            lo = hi if upper else lo
            hi = max(hi, lo)
        return {"type": "range", "schema": t[0].name, "field": f["name"], "min": _tidy(lo), "max": _tidy(hi)}

    def _positive_rule(self, draft: Draft, s: str) -> dict | None:
        m = re.search(r"(?P<a>[a-z _]{1,60}?)\s+(?:(?:is|are|must be|should be|must|should|always|be)\s+)+"
                      r"(?P<op>positive|non-negative|nonnegative|greater than zero|above zero|never negative)", s)
        if not m:
            return None
        t = self.resolve(draft, m.group("a"), s, create="number")
        if t is None:
            return None
        return {"type": "positive", "schema": t[0].name, "field": t[1]["name"],
                "or_zero": m.group("op") in ("non-negative", "nonnegative", "never negative")}

    def _one_of_rule(self, draft: Draft, s: str) -> dict | None:
        m = re.search(r"(?P<a>[a-z _]{1,60}?)\s+(?:(?:is|are|must be|should be|can be|can only be|is always|may be)\s+)+"
                      r"(?:one of|either|any of|only)\s*:?\s*(?P<v>.+)", s)
        if not m:
            return None
        values = [v.strip(" '\"") for v in re.split(r",|\bor\b|\band\b|/", m.group("v")) if v.strip(" '\"")]
        t = self.resolve(draft, m.group("a"), s)
        if t is None or len(values) < 2 or t[1]["type"] not in ("STRING", "CATEGORY", "INTEGER"):
            return None
        if t[1]["type"] == "INTEGER":
            nums = [parse_number(v) for v in values]
            if any(n is None or not float(n).is_integer() for n in nums):
                return None
            values = [int(n) for n in nums]
        return {"type": "one_of", "schema": t[0].name, "field": t[1]["name"], "values": values}

    def _unique_rule(self, draft: Draft, s: str) -> dict | None:
        m = re.search(r"(?P<a>[a-z _]{1,60}?)\s+(?:(?:is|are|must be|should be|must|always|be)\s+)+unique", s) or \
            re.search(r"(?:each|every)\s+[a-z _]{1,60}?\s+has\s+(?:a\s+)?unique\s+(?P<a>[a-z _]{1,60})", s)
        if not m:
            return None
        phrase = m.group("a")
        t = self.resolve(draft, phrase, s)
        if t is None and m.re.pattern.startswith("(?:each"):
            owner = draft.find_entity(s.split(" has ")[0])
            t = self.resolve(draft, f"{owner.aliases[0]} {phrase}" if owner and owner.aliases else phrase, s)
        if t is None:
            return None
        return {"type": "unique", "schema": t[0].name, "field": t[1]["name"]}

    def _required_rule(self, draft: Draft, s: str) -> dict | None:
        m = re.search(r"(?P<a>[a-z _]{1,60}?)\s+(?:is|are)\s+(?:always\s+)?(?:required|mandatory|always present|"
                      r"never empty|never null|never missing)", s) or \
            re.search(r"(?:every|each)\s+(?P<e>[a-z _]{1,60}?)\s+(?:must have|has|needs)\s+(?:an?\s+)?(?P<a>[a-z _]{1,60})$", s)
        if not m:
            return None
        phrase = m.group("a")
        if "e" in m.groupdict() and m.group("e"):
            phrase = f"{m.group('e')} {phrase}"
        t = self.resolve(draft, phrase, s)
        if t is None or t[1].get("primary_key"):
            return None
        return {"type": "not_null", "schema": t[0].name, "field": t[1]["name"]}


# --- from a draft to the analysis ------------------------------------------------------------------------

def finish(draft: Draft, confidence: float, analyzer: str) -> dict[str, Any]:
    """The documented analysis (and the checked spec) of a draft."""
    raw = {"domain": draft.domain, "schemas": [], "relationships": [], "constraints": []}
    for e in draft.entities.values():
        raw["schemas"].append({"name": e.name, "description": e.description, "volume": max(1, round(e.volume)),
                               "fields": e.fields})
    for r in draft.relationships:
        raw["relationships"].append(dict(r))
    spec = normalize_spec(raw)  # relationships add their key fields
    kept = []
    for c in draft.constraints:  # a rule that cannot hold on this spec is reported, not fatal
        trial = copy.deepcopy(spec)
        trial["constraints"].append(c)
        try:
            spec = normalize_spec(trial)
            kept.append(c)
        except InferloopError as exc:
            draft.notes.append(f"rule skipped ({c.get('description') or describe(c)}): {exc.message}")
    spec["constraints"] = [{**c, "description": c.get("description") or describe(c)} for c in spec["constraints"]]
    return analysis_of(spec, confidence, analyzer, draft.keywords, draft.notes)


def analysis_of(spec: dict, confidence: float, analyzer: str, keywords: list[str], notes: list[str]
                ) -> dict[str, Any]:
    requirements = [{"name": s["name"], "description": s["description"] or s["name"].replace("_", " ").capitalize(),
                     "data_type": "tabular", "estimated_volume": str(int(s["volume"]))} for s in spec["schemas"]]
    rels = [{k: v for k, v in r.items()} for r in spec["relationships"]]
    return {
        "domain": spec["domain"],
        "confidence": confidence,
        "requirements": requirements,
        "keywords": list(dict.fromkeys(keywords)),
        "suggested_schemas": [s["name"] for s in spec["schemas"]],
        "schemas": public_schemas(spec),
        "relationships": rels,
        "constraints": spec["constraints"],
        "notes": notes,
        "analyzer": analyzer,
        "spec": spec,
    }


__all__ = ["Analyzer", "LexiconAnalyzer", "analysis_of", "check_context", "check_domain_hint", "finish"]

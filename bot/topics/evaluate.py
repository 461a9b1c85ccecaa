"""Quality of a taxonomy on labelled articles (SPEC 5.3): `python -m bot eval-topics`.

A labelled article says which topics it must get (`must`) and which it must not get
(`must_not`); every other topic is unjudged. So a topic's precision counts only its
labelled negatives: an assignment nobody judged is neither right nor wrong. The report
names every miss and every false topic with the words or rule behind it, because a
newsroom tuning its own TOPICS_FILE needs to know what to change, not only a figure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.topics.matcher import Judgement, Matcher, Reason

MIN_RECALL = 0.95  # SPEC 5.3
MAX_FALSE_RATE = 0.02  # SPEC 5.3


class LabelledFileError(ValueError):
    """A labelled file cannot be read, or a line of it is not a labelled article."""


@dataclass(frozen=True)
class LabelledArticle:
    id: str
    title: str
    summary: str
    must: tuple[str, ...]
    must_not: tuple[str, ...]


@dataclass
class TopicCounts:
    found: int = 0  # a must topic assigned
    missed: int = 0  # a must topic not assigned
    false: int = 0  # a must_not topic assigned

    @property
    def recall(self) -> float | None:
        total = self.found + self.missed
        return self.found / total if total else None

    @property
    def precision(self) -> float | None:
        judged = self.found + self.false
        return self.found / judged if judged else None


@dataclass(frozen=True)
class Fault:
    article: LabelledArticle
    topic: str
    kind: str  # "miss" or "false"
    because: str  # the reason of a false topic; what the article got, for a miss


@dataclass
class Report:
    name: str
    articles: int = 0
    must: int = 0
    found: int = 0
    must_not: int = 0
    false: int = 0
    topics: dict[str, TopicCounts] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.must if self.must else 1.0

    @property
    def false_rate(self) -> float:
        return self.false / self.must_not if self.must_not else 0.0

    def meets(self, min_recall: float = MIN_RECALL, max_false: float = MAX_FALSE_RATE) -> bool:
        return self.recall >= min_recall and self.false_rate <= max_false


def load_labelled(path: Path, known_topics: Iterable[str]) -> list[LabelledArticle]:
    """The articles of one JSONL file; a line that is not one names its file and line."""
    known = set(known_topics)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise LabelledFileError(f"{path}: cannot read: {exc}") from exc
    out: list[LabelledArticle] = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}:{n}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise LabelledFileError(f"{where}: not JSON: {exc.msg}") from None
        if not isinstance(row, dict):
            raise LabelledFileError(f"{where}: expected a JSON object")
        texts = [row.get(k) for k in ("id", "title", "summary")]
        if not all(isinstance(t, str) for t in texts):
            raise LabelledFileError(f"{where}: id, title and summary must be strings")
        lists = [row.get(k, []) for k in ("must", "must_not")]
        if not all(isinstance(v, list) and all(isinstance(t, str) for t in v) for v in lists):
            raise LabelledFileError(f"{where}: must and must_not must be lists of topic ids")
        unknown = sorted({t for v in lists for t in v} - known)
        if unknown:
            raise LabelledFileError(f"{where}: unknown topic {', '.join(unknown)}")
        out.append(
            LabelledArticle(
                id=row["id"],
                title=row["title"],
                summary=row["summary"],
                must=tuple(lists[0]),
                must_not=tuple(lists[1]),
            )
        )
    return out


def evaluate(name: str, matcher: Matcher, articles: Sequence[LabelledArticle]) -> Report:
    report = Report(name=name, articles=len(articles))
    for article in articles:
        judgement = matcher.explain(article.title, article.summary)
        topics = judgement.topics
        for topic in article.must:
            counts = report.topics.setdefault(topic, TopicCounts())
            report.must += 1
            if topic in topics:
                report.found += 1
                counts.found += 1
            else:
                counts.missed += 1
                report.faults.append(Fault(article, topic, "miss", _missed(judgement, topic)))
        for topic in article.must_not:
            report.must_not += 1
            if topic in topics:
                report.false += 1
                report.topics.setdefault(topic, TopicCounts()).false += 1
                reason = next(r for r in judgement.reasons if r.topic == topic)
                report.faults.append(Fault(article, topic, "false", describe(reason)))
    return report


def describe(reason: Reason) -> str:
    """The words that assigned a topic, and the rule or gazetteer that read them so."""
    words = " + ".join(f"«{w}»" for w in reason.words)
    if reason.rule:
        return f"{words} (rule {reason.rule})"
    if reason.gazetteer:
        return f"{words} (gazetteer {reason.gazetteer})"
    return words


def _missed(judgement: Judgement, topic: str) -> str:
    cancelled = [x for x in judgement.exclusions if x.topic == topic]
    if cancelled:
        x = cancelled[0]
        by = f"rule {x.rule}: «{x.by}»" if x.rule else f"«{x.by}»"
        return f"«{x.words}» was cancelled by {by}"
    got = ", ".join(sorted(judgement.topics)) or "no topic"
    return f"no phrase or rule found it (got: {got})"


def _ratio(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def format_report(
    report: Report, min_recall: float = MIN_RECALL, max_false: float = MAX_FALSE_RATE
) -> list[str]:
    verdict = "ok" if report.meets(min_recall, max_false) else "BELOW THE BAR"
    lines = [
        f"{report.name}: {report.articles} articles "
        f"(bar: recall >= {min_recall:.2f}, false topics <= {max_false:.1%})",
        f"  recall {report.recall:.3f} ({report.found}/{report.must}), "
        f"false topics {report.false_rate:.2%} ({report.false}/{report.must_not}): {verdict}",
        "  topic            precision  recall  (found/missed/false)",
    ]
    for topic, counts in sorted(report.topics.items()):
        lines.append(
            f"  {topic:<16} {_ratio(counts.precision):>9}  {_ratio(counts.recall):>6}"
            f"  ({counts.found}/{counts.missed}/{counts.false})"
        )
    for kind, label in (("miss", "missed"), ("false", "false topic")):
        for fault in (f for f in report.faults if f.kind == kind):
            lines.append(f"  {label} {fault.topic} in {fault.article.id}: {fault.because}")
            lines.append(f"      {fault.article.title}")
    return lines


def total(reports: Sequence[Report]) -> Report:
    out = Report(name="all files")
    for r in reports:
        out.articles += r.articles
        out.must += r.must
        out.found += r.found
        out.must_not += r.must_not
        out.false += r.false
        for topic, counts in r.topics.items():
            mine = out.topics.setdefault(topic, TopicCounts())
            mine.found += counts.found
            mine.missed += counts.missed
            mine.false += counts.false
    return out

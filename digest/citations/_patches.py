"""Small corrections to citeproc-py, so that its output is citeproc-js's (the processor Zotero
uses, which Digest's expected citations come from). Each is a replacement of one method,
applied once when `digest.citations` is first imported; each says what it corrects.

Offered upstream as issues/patches to citeproc-py; until released they live here.
"""

from __future__ import annotations

from typing import Any

from citeproc import model

# citeproc-js's words left lower case in title case (its SKIP_WORDS, single words only);
# citeproc-py's shorter list capitalised "de" in "Revista de Trabajo Social".
_SKIP_WORDS = """
    about above across afore after against al along alongside amid amidst among amongst
    anenst apropos apud around as aside astride at athwart atop barring before behind below
    beneath beside besides between beyond but by circa despite down during et except for
    forenenst from given in inside into lest like modulo near next notwithstanding of off on
    onto out over per plus pro qua sans since than through thru throughout thruout till to
    toward towards under underneath until unto up upon versus vs. v. vs v via vis-à-vis with
    within without or yet so and nor a an the de d' von van c ca
"""
_STOP_WORDS = sorted(set(model.TextCased._stop_words) | set(_SKIP_WORDS.split()))


def _initialize(self: Any, given: str, mark: str, context: Any) -> str:
    """Initials as citeproc-js makes them: "Jean-Pierre" → "J.-P.", "Min-ji" → "M." (a part
    after a hyphen that is not capitalised is dropped; citeproc-py wrote "M.-. ji .")."""
    if self.get_option("initialize-with-hyphen", context):
        hyphen_parts = given.split("-")
        hyphen_parts = hyphen_parts[:1] + [p for p in hyphen_parts[1:] if p.strip()[:1].isupper()]
    else:
        hyphen_parts = [given.replace("-", " ")]
    result_parts = []
    for hyphen_part in hyphen_parts:
        words: list[str] = []
        group: list[str] = []
        for part in hyphen_part.replace(".", " ").split():
            if part[0].isupper():
                group.append(part[0])
                continue
            if group:  # a lower-case particle inside a given name stays a word
                words.append(mark.join(group) + mark)
                group = []
            words.append(part)
        if group:
            words.append(mark.join(group) + mark)
        result_parts.append(" ".join(" ".join(words).split()))
    return "-".join(result_parts)


def _render_single_date(self: Any, date: Any, show_parts: Any = None, context: Any = None):
    """A localized date's parts joined with the locale's delimiter, as CSL says; citeproc-py
    took the calling cs:date's (usually none), so Vancouver's dates ran on: "2022Oct14"."""
    parts = (
        self.parts(date, show_parts, context) if context != self else self.parts(date, show_parts)
    )
    if not parts:
        return None
    if self.is_locale_date() and self.get("delimiter") is None:
        return context.join(parts)
    return self.join(parts)


_original_names_process = model.Names.process


def _names_process(self: Any, item: Any, names_context: Any = None, context: Any = None, **kw):
    """Names a cs:substitute has already put in the author's place are not repeated (CSL
    "substituted variables are suppressed in the rest of the output"): "Horwath, J. and
    Platt, D. (eds) (2019) … Edited by J. Horwath and D. Platt." lost its second editors."""
    try:
        layout = (self if context is None else context).get_layout()
    except IndexError:  # rendered outside a layout (a locale's term): nothing substituted
        return _original_names_process(self, item, names_context, context, **kw)
    # Entries are a cs:names' whole variable attribute ("editor translator"): word by word.
    repressed = {v for entry in layout.repressed.get(self.tag, []) for v in (entry or "").split()}
    variables = self.get("variable", "").split()
    left = [v for v in variables if v not in repressed]
    if variables and not left:
        return None
    if not variables or left == variables:
        return _original_names_process(self, item, names_context, context, **kw)
    self.set("variable", " ".join(left))  # the style is shared: put it back at once
    try:
        return _original_names_process(self, item, names_context, context, **kw)
    finally:
        self.set("variable", " ".join(variables))


_original_text_variable = model.Text._variable


def _text_variable(self: Any, item: Any, context: Any) -> Any:
    """A variable rendered while a substitute is being tried is noted (see `_substitute`)."""
    text = _original_text_variable(self, item, context)
    noted = getattr(context.get_layout(), "digest_noted", None)
    if text and noted is not None:
        noted.append((self.tag, self.get("variable")))
    return text


def _substitute(self: Any, item: Any, context: Any = None, **kwargs: Any) -> Any:
    """What a cs:substitute rendered in the author's place is suppressed in the rest of the
    reference, also when it was rendered inside a cs:choose or a macro (citeproc-py only
    suppressed a direct child): an item without author showed its title twice:
    "<title> (2021) <title>. London: …"."""
    layout = context.get_layout()
    for child in self.getchildren():
        layout.digest_noted = []
        try:
            if isinstance(child, model.Names) and child.name is None:
                names = self.xpath_search("./parent::cs:names[1]")[0]
                text = child.render(item, names_context=names, context=context, **kwargs)
            else:
                text = child.render(item, context=context, **kwargs)
        except model.VariableError:
            continue
        finally:
            noted, layout.digest_noted = layout.digest_noted, None
        if text:
            self.add_to_repressed_list(child, context)
            for tag, variable in noted:
                layout.repressed.setdefault(tag, []).append(variable)
            return text
    return None


_original_last_page = model.FormatNumber._format_last_page


def _format_last_page(self: Any, first: str, last: str) -> str:
    """A last page longer than the first is written whole: "1–12", not "1–2" (citeproc-py's
    minimal form compared digits that do not stand in the same place)."""
    if len(last) > len(first):
        return last
    return _original_last_page(self, first, last)


_original_case = model.TextCased.case


def _case(self: Any, text: Any, language: str | None = None) -> Any:
    """Text of no stated language is cased as English, as citeproc-js does: APA's editor label
    is "(Eds.)", not "(eds.)" (citeproc-py left text without a language uncased)."""
    return _original_case(self, text, language or "en")


def apply() -> None:
    """Install the corrections (idempotent)."""
    model.TextCased._stop_words = _STOP_WORDS
    model.Name.initialize = _initialize
    model.Date.render_single_date = _render_single_date
    model.Names.process = _names_process
    model.Text._variable = _text_variable
    model.Substitute.render = _substitute
    model.FormatNumber._format_last_page = _format_last_page
    model.TextCased.case = _case

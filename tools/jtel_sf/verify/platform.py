"""The platform rulebook of `jtel-sf verify`: rules Salesforce enforces at deploy or run time that can
be checked offline, each reported at file and line.

Every rule, its source in Salesforce's documentation and its test are listed in docs/platform-rules.md;
limits live as data with their source in ``platform_rules.json``. The project files
(``sfdx-project.json``, ``config/*scratch-def.json``) are checked against Salesforce's own JSON
schemas from the npm package ``@salesforce/schemas``, pinned in this folder's package.json and
installed with the rest of the toolchain.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

from ..org.package import OBJECT_CHILDREN
from .findings import Finding, finding

HERE = Path(__file__).resolve().parent
RULES_FILE = HERE / "platform_rules.json"
CHECK = "platform"
SCHEMAS_PACKAGE = ("node_modules", "@salesforce", "schemas")
PROJECT_SCHEMA = "sfdx-project.schema.json"
SCRATCH_SCHEMA = "project-scratch-def.schema.json"


def load_rules() -> dict:
    return json.loads(RULES_FILE.read_text(encoding="utf-8"))


# --- a small XML tree with line numbers (ElementTree has none) ---------------------------------------


@dataclass
class Node:
    tag: str
    line: int
    column: int
    text: str = ""
    children: list[Node] = field(default_factory=list)

    def findall(self, path: str) -> list[Node]:
        nodes = [self]
        for step in path.split("/"):
            nodes = [child for node in nodes for child in node.children if child.tag == step]
        return nodes

    def find(self, path: str) -> Node | None:
        found = self.findall(path)
        return found[0] if found else None

    def value(self, path: str) -> str | None:
        node = self.find(path)
        return None if node is None else node.text


def parse_xml(path: Path) -> Node | None:
    """The document as Nodes, or None when it does not parse (the metadata check reports that)."""
    parser = expat.ParserCreate()
    stack: list[Node] = []
    texts: list[list[str]] = []
    root: list[Node] = []

    def start(tag: str, _attrs: dict[str, str]) -> None:
        node = Node(tag.split(":")[-1], parser.CurrentLineNumber, parser.CurrentColumnNumber + 1)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)
        texts.append([])

    def end(_tag: str) -> None:
        node = stack.pop()
        node.text = "".join(texts.pop()).strip()

    def data(text: str) -> None:
        if texts:
            texts[-1].append(text)

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = data
    try:
        parser.Parse(path.read_bytes(), True)
    except (expat.ExpatError, OSError):
        return None
    return root[0] if root else None


def text_length(text: str) -> int:
    """Characters as the platform counts them: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


# --- the project in source format -------------------------------------------------------------------


@dataclass
class Source:
    """The parsed XML files of one package folder, indexed the way the rules need them."""

    target: Path
    documents: dict[Path, Node]

    def __post_init__(self) -> None:
        self.objects: set[str] = set()  # objects with a folder in source
        self.fields: dict[str, dict[str, tuple[Path, Node]]] = {}
        self.compact_layouts: dict[str, set[str]] = {}
        self.tabs: dict[str, tuple[Path, Node]] = {}
        self.applications: set[str] = set()
        self.report_types: set[str] = set()
        for path, root in self.documents.items():
            parts = path.relative_to(self.target).parts
            name = path.name.split(".")[0]
            if "objects" in parts:
                index = parts.index("objects")
                if len(parts) > index + 2:
                    obj = parts[index + 1]
                    self.objects.add(obj)
                    if parts[index + 2] == "fields":
                        self.fields.setdefault(obj, {})[name] = (path, root)
                    elif parts[index + 2] == "compactLayouts":
                        self.compact_layouts.setdefault(obj, set()).add(name)
            if root.tag == "CustomTab":
                self.tabs[name] = (path, root)
            elif root.tag == "CustomApplication":
                self.applications.add(name)
            elif root.tag == "ReportType":
                self.report_types.add(name)

    def of_type(self, *types: str) -> Iterable[tuple[Path, Node]]:
        return ((path, root) for path, root in sorted(self.documents.items()) if root.tag in types)


def _at(path: Path, node: Node, rule: str, message: str) -> Finding:
    return finding(path, node.line, node.column, CHECK, rule, message)


# --- rules on XML -----------------------------------------------------------------------------------


def check_text_limits(source: Source, rules: dict) -> list[Finding]:
    findings = []
    for limit in rules["text_limits"]:
        for path, root in source.of_type(limit["type"]):
            for node in root.findall(limit["element"]):
                length = text_length(node.text)
                if length > limit["limit"]:
                    findings.append(
                        _at(
                            path,
                            node,
                            "text-limit",
                            f"{limit['type']} {limit['element']} has {length} characters; the platform "
                            f"allows {limit['limit']} ({limit['source'].split(':')[0]})",
                        )
                    )
    return findings


def check_decomposed_full_names(source: Source, rules: dict) -> list[Finding]:
    """A decomposed child file carries the fullName its file name implies (the sf CLI copies it into
    the object unchanged; a nameless child deploys without a name)."""
    name_limits = {item["type"]: item for item in rules["name_limits"]}
    findings = []
    for path, root in sorted(source.documents.items()):
        parts = path.relative_to(source.target).parts
        if len(parts) < 4 or parts[-4] != "objects" or parts[-2] not in OBJECT_CHILDREN:
            continue
        suffix = f".{OBJECT_CHILDREN[parts[-2]][0]}-meta.xml"
        if not path.name.endswith(suffix):
            continue
        expected = path.name[: -len(suffix)]
        full_name = root.find("fullName")
        if full_name is None:
            findings.append(
                _at(
                    path,
                    root,
                    "decomposed-fullname",
                    f"{root.tag} has no <fullName>: add <fullName>{expected}</fullName> (the sf CLI copies "
                    "decomposed files into the object unchanged)",
                )
            )
        elif full_name.text != expected:
            findings.append(
                _at(
                    path,
                    full_name,
                    "decomposed-fullname",
                    f"<fullName>{full_name.text}</fullName> differs from the file name: expected {expected}",
                )
            )
        limit = name_limits.get(root.tag)
        if limit and text_length(expected) > limit["limit"]:
            findings.append(
                _at(path, root, "text-limit", f"{root.tag} name {expected} is longer than {limit['limit']}")
            )
    return findings


_READ_ONLY_TYPES = {"AutoNumber", "Summary"}


def check_field_permissions(source: Source) -> list[Finding]:
    """fieldPermissions only on fields that take them: never on required or master-detail fields,
    never editable on formula, roll-up summary or auto-number fields, never on a missing field."""
    findings = []
    for path, root in source.of_type("PermissionSet", "Profile"):
        for permission in root.findall("fieldPermissions"):
            node = permission.find("field") or permission  # a Node is always truthy
            obj, _, name = (permission.value("field") or "").partition(".")
            if obj not in source.objects:
                continue  # a standard object's field: not in source, nothing to check offline
            definition = source.fields.get(obj, {}).get(name)
            if definition is None:
                if name.endswith("__c"):
                    findings.append(
                        _at(
                            path,
                            node,
                            "field-permission",
                            f"no field {obj}.{name} in source: the deploy fails",
                        )
                    )
                continue
            field_root = definition[1]
            field_type = field_root.value("type")
            if field_type == "MasterDetail" or field_root.value("required") == "true":
                kind = "master-detail" if field_type == "MasterDetail" else "required"
                findings.append(
                    _at(
                        path,
                        node,
                        "field-permission",
                        f"{obj}.{name} is a {kind} field: the platform gives it no field permissions, and "
                        "naming it fails the deploy; remove this entry",
                    )
                )
            elif permission.value("editable") == "true" and (
                field_type in _READ_ONLY_TYPES or field_root.find("formula") is not None
            ):
                findings.append(
                    _at(
                        path,
                        node,
                        "field-permission",
                        f"{obj}.{name} is calculated ({field_type or 'formula'}): it can be readable, not "
                        "editable",
                    )
                )
    return findings


def _number(node: Node | None) -> int | None:
    try:
        return None if node is None else int(node.text)
    except ValueError:
        return None


def check_field_definitions(source: Source, rules: dict) -> list[Finding]:
    """Custom field elements the Metadata API refuses for the field's type, sizes beyond the type's
    maximum, and more master-detail fields on one object than the platform allows."""
    data = rules["field_definitions"]
    findings = []
    for obj, fields in sorted(source.fields.items()):
        master_details = []
        for name, (path, root) in sorted(fields.items()):
            field_type = root.value("type")
            if field_type == "MasterDetail":
                master_details.append((path, root))
            for rule in data["forbidden"]:
                when = rule["when"]
                applies = field_type == when["type"] if "type" in when else root.find(when["has"]) is not None
                node = root.find(rule["element"])
                if applies and node is not None:
                    findings.append(
                        _at(
                            path,
                            node,
                            "field-definition",
                            f"{obj}.{name}: the deploy fails with: {rule['error']}",
                        )
                    )
            length, maximum = _number(root.find("length")), data["max_length"].get(field_type or "")
            if length is not None and maximum is not None and length > maximum:
                node = root.find("length") or root  # a Node is always truthy
                findings.append(
                    _at(
                        path,
                        node,
                        "field-definition",
                        f"{obj}.{name}: {field_type} length {length} > {maximum}",
                    )
                )
            precision, scale = _number(root.find("precision")), _number(root.find("scale"))
            if precision is not None and (precision > data["max_precision"] or (scale or 0) > precision):
                node = root.find("precision") or root  # a Node is always truthy
                findings.append(
                    _at(
                        path,
                        node,
                        "field-definition",
                        f"{obj}.{name}: precision {precision}, scale {scale}: precision is at most "
                        f"{data['max_precision']} and scale at most the precision",
                    )
                )
        limit = data["max_master_detail_per_object"]
        for path, root in master_details[limit:]:
            findings.append(
                _at(path, root, "field-definition", f"{obj} has more than {limit} master-detail fields")
            )
    return findings


def check_permission_dependencies(source: Source, rules: dict) -> list[Finding]:
    """An object or field permission that requires others (Edit needs Read, Delete needs Edit, Modify
    All needs View All and Delete, ...) has them in the same entry."""
    dependencies = rules["permission_dependencies"]
    findings = []
    for path, root in source.of_type("PermissionSet", "Profile"):
        for kind, name_tag in (("objectPermissions", "object"), ("fieldPermissions", "field")):
            for entry in root.findall(kind):
                granted = {child.tag for child in entry.children if child.text == "true"}
                for permission, needs in dependencies[kind].items():
                    missing = [need for need in needs if need not in granted]
                    if permission in granted and missing:
                        node = entry.find(permission) or entry  # a Node is always truthy
                        findings.append(
                            _at(
                                path,
                                node,
                                "permission-dependency",
                                f"{entry.value(name_tag)}: {permission} requires {', '.join(missing)}",
                            )
                        )
    return findings


def _tab_exists(source: Source, tab: str) -> bool:
    return tab.startswith("standard-") or tab in source.tabs


def check_references(source: Source) -> list[Finding]:
    """Names that must resolve inside the package: compact layout assignments, app and permission set
    tabs, applications, Apex classes of permission sets, custom object tabs, report types of reports."""
    findings = []
    for path, root in source.of_type("CustomObject"):
        node = root.find("compactLayoutAssignment")
        obj = path.name.split(".")[0]
        if (
            node is not None
            and node.text != "SYSTEM"
            and node.text not in source.compact_layouts.get(obj, set())
        ):
            findings.append(
                _at(
                    path,
                    node,
                    "reference",
                    f"compactLayoutAssignment names {node.text}: no such compact layout",
                )
            )
    for path, root in source.of_type("CustomApplication"):
        for node in root.findall("tabs"):
            if not _tab_exists(source, node.text):
                findings.append(_at(path, node, "reference", f"the app names tab {node.text}: no such tab"))
    classes = {p.name[: -len(".cls")] for p in source.target.rglob("*.cls")}
    for path, root in source.of_type("PermissionSet", "Profile"):
        for node in root.findall("tabSettings/tab"):
            if not _tab_exists(source, node.text):
                findings.append(
                    _at(path, node, "reference", f"tabSettings names tab {node.text}: no such tab")
                )
        for node in root.findall("applicationVisibilities/application"):
            if not node.text.startswith("standard__") and node.text not in source.applications:
                findings.append(_at(path, node, "reference", f"names application {node.text}: no such app"))
        for node in root.findall("classAccesses/apexClass"):
            if node.text not in classes:
                findings.append(_at(path, node, "reference", f"names Apex class {node.text}: no such class"))
    for name, (path, root) in sorted(source.tabs.items()):
        if root.value("customObject") == "true" and name not in source.objects:
            findings.append(_at(path, root, "reference", f"custom object tab {name}: no such object"))
    for path, root in source.of_type("Report"):
        node = root.find("reportType")
        if node is not None and node.text.endswith("__c") and node.text[:-3] not in source.report_types:
            findings.append(_at(path, node, "reference", f"reportType {node.text}: no such report type"))
    return findings


def check_tab_motifs(source: Source, rules: dict) -> list[Finding]:
    """A custom tab's motif is one of the tab styles Salesforce offers."""
    known = set(rules["tab_motifs"]["values"])
    findings = []
    for _, (path, root) in sorted(source.tabs.items()):
        node = root.find("motif")
        if node is not None and node.text not in known:
            findings.append(
                _at(path, node, "tab-motif", f"motif '{node.text}' is not one of Salesforce's tab styles")
            )
    return findings


def check_folders(source: Source) -> list[Finding]:
    """publicFolderAccess is not used once analytics folder sharing is on: share with folderShares."""
    findings = []
    for path, root in source.of_type("ReportFolder", "DashboardFolder"):
        node = root.find("publicFolderAccess")
        if node is not None:
            findings.append(
                _at(
                    path,
                    node,
                    "retired-folder-access",
                    "publicFolderAccess is ignored with enhanced analytics folder sharing (the default): "
                    "share the folder with <folderShares> (accessLevel, sharedTo, sharedToType)",
                )
            )
    return findings


def _generated_report_type_labels(source: Source) -> dict[str, str]:
    """Labels of the report types Salesforce generates for the custom objects in source: one per
    object that allows reports, one "Parent with Child" per master-detail or custom lookup."""
    plural = {}
    reportable = set()
    for path, root in source.of_type("CustomObject"):
        obj = path.name.split(".")[0]
        plural[obj] = root.value("pluralLabel") or obj
        if root.value("enableReports") == "true":
            reportable.add(obj)
    labels = {plural[obj]: f"the report type Salesforce creates for {obj}" for obj in reportable}
    for child, fields in source.fields.items():
        for name, (_, root) in fields.items():
            parent = root.value("referenceTo")
            if parent in plural and child in plural and root.value("type") in ("MasterDetail", "Lookup"):
                label = f"{plural[parent]} with {plural[child]}"
                labels[label] = f"the report type Salesforce creates for {child}.{name}"
    return labels


def check_report_type_labels(source: Source) -> list[Finding]:
    generated = {label.lower(): why for label, why in _generated_report_type_labels(source).items()}
    findings = []
    for path, root in source.of_type("ReportType"):
        node = root.find("label")
        if node is not None and node.text.lower() in generated:
            findings.append(
                _at(
                    path,
                    node,
                    "report-type-label",
                    f"label '{node.text}' is also {generated[node.text.lower()]}: users see two report "
                    "types of one name; choose another label",
                )
            )
    return findings


# --- rules on Apex ----------------------------------------------------------------------------------

_PROFILE_BY_NAME = re.compile(
    r"\bFROM\s+Profile\b[^\]\;]*?\bWHERE\b[^\]\;]*?(?<![.\w])Name\s*(=|!=|<>|\bIN\b|\bLIKE\b)"
    r"|\bProfile\s*\.\s*Name\s*(=|!=|<>|\bIN\b|\bLIKE\b)",
    re.IGNORECASE | re.DOTALL,
)


def blank_comments(text: str) -> str:
    """Apex with its comments replaced by spaces (newlines kept): positions stay valid, string
    literals (where a query in dynamic SOQL lives) stay as they are."""
    out = list(text)
    index, size, quote = 0, len(text), False
    while index < size:
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == "'":
                quote = False
        elif char == "'":
            quote = True
        elif text.startswith("//", index):
            end = text.find("\n", index)
            end = size if end < 0 else end
            out[index:end] = " " * (end - index)
            index = end
            continue
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            end = size if end < 0 else end + 2
            out[index:end] = [c if c == "\n" else " " for c in text[index:end]]
            index = end
            continue
        index += 1
    return "".join(out)


def _apex_finding(path: Path, text: str, at: int, rule: str, message: str) -> Finding:
    """A finding at offset ``at`` of ``text`` (line and column counted from 1)."""
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return finding(path, line, column, CHECK, rule, message)


def _enclosed(text: str, start: int, opening: str, closing: str) -> str:
    """What stands between the bracket at ``start`` and its matching closing bracket (to the end of
    the text when it is never closed)."""
    depth = 0
    for index in range(start, len(text)):
        if text[index] == opening:
            depth += 1
        elif text[index] == closing:
            depth -= 1
            if depth == 0:
                return text[start + 1 : index]
    return text[start + 1 :]


def check_profile_lookups(apex_files: Sequence[Path]) -> list[Finding]:
    """Standard profile names are translated in orgs with another default language: a lookup of a
    profile by Name (SOQL in any Apex, test code included) finds nothing there."""
    findings = []
    for path in apex_files:
        text = blank_comments(path.read_text(encoding="utf-8", errors="replace"))
        for match in _PROFILE_BY_NAME.finditer(text):
            findings.append(
                _apex_finding(
                    path,
                    text,
                    match.start(),
                    "profile-by-name",
                    "a Profile looked up by Name: standard profile names are translated in orgs whose "
                    "default language is not English; find it by something not translated (for example "
                    "the user licence, or the running user's ProfileId)",
                )
            )
    return findings


_STATIC_SOQL = re.compile(r"\[\s*SELECT\b", re.IGNORECASE)
_FOR_UPDATE = re.compile(r"\bFOR\s+UPDATE\b", re.IGNORECASE)
_ORDER_BY = re.compile(r"\bORDER\s+BY\b", re.IGNORECASE)
_STRING_LITERAL = re.compile(r"'(?:\\.|[^'\\])*'")


def _soql_blocks(text: str) -> list[tuple[int, str]]:
    """(offset, text) of every static SOQL query ``[SELECT ...]`` and every string literal that holds
    a query (dynamic SOQL), in Apex whose comments were blanked."""
    # (offset of the block's first character, the block): inside the brackets or the quotes
    blocks = [(m.start() + 1, _enclosed(text, m.start(), "[", "]")) for m in _STATIC_SOQL.finditer(text)]
    for match in _STRING_LITERAL.finditer(text):
        if re.search(r"\bSELECT\b", match.group(0), re.IGNORECASE):
            blocks.append((match.start() + 1, match.group(0)[1:-1]))
    return blocks


def check_locking_queries(apex_files: Sequence[Path]) -> list[Finding]:
    """A locking query may not sort: "You can't use the ORDER BY clause in any SOQL query that uses
    locking" (SOQL and SOSL Reference, FOR UPDATE). The org's compiler refuses the class; our
    semantic checker does not look into SOQL."""
    findings = []
    for path in apex_files:
        text = blank_comments(path.read_text(encoding="utf-8", errors="replace"))
        for offset, block in _soql_blocks(text):
            order = _ORDER_BY.search(block)
            if order is None or _FOR_UPDATE.search(block) is None:
                continue
            findings.append(
                _apex_finding(
                    path,
                    text,
                    offset + order.start(),
                    "order-by-with-for-update",
                    "ORDER BY in a query with FOR UPDATE: a locking query may not sort (SOQL and SOSL "
                    "Reference, FOR UPDATE); sort the records in Apex instead",
                )
            )
    return findings


_METHOD = re.compile(
    r"\b(?:public|private|protected|global)\s+(?:static\s+|override\s+|virtual\s+)*"
    r"[\w.<>,\s]+?\s+(?P<name>\w+)\s*\((?P<params>[^)]*)\)\s*\{",
    re.IGNORECASE,
)
_BRANCH = re.compile(r"\b(if|for|while|switch|catch)\b|\?|&&|\|\|", re.IGNORECASE)


def _arity(text: str) -> int:
    """How many comma-separated items a parameter or argument list has (commas inside <>, (), [] and
    {} do not separate)."""
    if not text.strip():
        return 0
    depth, count = 0, 1
    for char in text:
        if char in "<([{":
            depth += 1
        elif char in ">)]}":
            depth -= 1
        elif char == "," and depth == 0:
            count += 1
    return count


def check_unconditional_recursion(apex_files: Sequence[Path]) -> list[Finding]:
    """A method that calls itself with no branch in its body recurses until the stack is exhausted:
    "Maximum stack depth reached", a LimitException no code can catch, so every test through it fails
    (and with it a deploy that runs tests). apex-ls and PMD accept it; a rename by search and replace
    makes it (a helper's own name written into its body)."""
    findings = []
    for path in apex_files:
        text = blank_comments(path.read_text(encoding="utf-8", errors="replace"))
        text = _STRING_LITERAL.sub(lambda m: "'" + " " * (len(m.group(0)) - 2) + "'", text)
        for match in _METHOD.finditer(text):
            name = match.group("name")
            body = _enclosed(text, match.end() - 1, "{", "}")
            call = re.search(rf"(?<![\w.])(?:this\.)?{re.escape(name)}\s*\(", body)
            if call is None or _BRANCH.search(body):
                continue
            if _arity(_enclosed(body, call.end() - 1, "(", ")")) != _arity(match.group("params")):
                continue  # an overload with other parameters, not the method itself
            findings.append(
                _apex_finding(
                    path,
                    text,
                    match.end() + call.start(),
                    "unconditional-recursion",
                    f"{name} calls itself with no branch in its body: it recurses until 'Maximum stack "
                    "depth reached', which no code can catch",
                )
            )
    return findings


# --- project files against Salesforce's JSON schemas -----------------------------------------------


def _json_line(text: str, path: Sequence[object]) -> int:
    """The line of the JSON value at ``path`` (keys and indexes), found by scanning: close enough for
    a finding, and exact for keys."""
    offset = 0
    for step in path:
        if isinstance(step, str):
            match = re.compile(r'"' + re.escape(step) + r'"\s*:').search(text, offset)
            if match is None:
                break
            offset = match.start()
        else:
            continue
    return text.count("\n", 0, offset) + 1


def _validate_json(path: Path, schema: dict, extra: Sequence[tuple[list[object], str]] = ()) -> list[Finding]:
    from jsonschema import Draft7Validator  # imported here: only verify needs it

    text = path.read_text(encoding="utf-8")
    try:
        document = json.loads(text)
    except ValueError as exc:
        return [
            finding(path, getattr(exc, "lineno", 1), getattr(exc, "colno", 1), CHECK, "json-schema", str(exc))
        ]
    findings = []
    for error in sorted(Draft7Validator(schema).iter_errors(document), key=lambda e: list(e.absolute_path)):
        where = "/".join(map(str, error.absolute_path)) or "(top level)"
        location = list(error.absolute_path)
        if error.validator == "additionalProperties" and isinstance(error.instance, dict):
            allowed = set(error.schema.get("properties", {}))
            location += [key for key in error.instance if key not in allowed][:1]  # point at the key
        findings.append(
            finding(
                path,
                _json_line(text, location),
                1,
                CHECK,
                "json-schema",
                f"{where}: {error.message} ({schema.get('title', 'Salesforce schema')})",
            )
        )
    for location, message in extra:
        findings.append(finding(path, _json_line(text, location), 1, CHECK, "json-schema", message))
    return findings


def _unknown_settings(document: object, schema: dict) -> list[tuple[list[object], str]]:
    """Settings names outside the schema's list of Settings types: the schema allows any key, the
    org's settings deploy does not (each key names a Metadata API Settings type)."""
    known = set(schema.get("definitions", {}).get("settings", {}).get("properties", {}))
    settings = document.get("settings") if isinstance(document, dict) else None
    if not isinstance(settings, dict) or not known:
        return []
    problems = []
    for name in settings:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(
                (
                    ["settings", name],
                    f"settings/{name} is not a Settings type of Salesforce's scratch definition schema{hint} "
                    "(the org's settings deploy fails on it)",
                )
            )
    return problems


def check_project_files(project: Path, schemas: Path) -> list[Finding]:
    project_schema = schemas / PROJECT_SCHEMA
    scratch_schema = schemas / SCRATCH_SCHEMA
    if not project_schema.is_file() or not scratch_schema.is_file():
        return [
            finding(
                project / "sfdx-project.json",
                1,
                1,
                CHECK,
                "tool-error",
                f"Salesforce's JSON schemas are missing in {schemas}: reinstall the toolchain",
            )
        ]
    findings: list[Finding] = []
    if (project / "sfdx-project.json").is_file():
        findings += _validate_json(
            project / "sfdx-project.json", json.loads(project_schema.read_text("utf-8"))
        )
    scratch = json.loads(scratch_schema.read_text(encoding="utf-8"))
    for path in sorted((project / "config").glob("*scratch-def*.json")):
        try:
            extra = _unknown_settings(json.loads(path.read_text(encoding="utf-8")), scratch)
        except ValueError:
            extra = []
        findings += _validate_json(path, scratch, extra)
    return findings


# --- all of it --------------------------------------------------------------------------------------


def _scope(target: Path, project: Path | None) -> Path:
    """The package folder around ``target`` (references resolve across it), else ``target`` itself."""
    from .checks import _package_dirs  # the one reader of sfdx-project.json's package directories

    if project is not None:
        for package in _package_dirs(project):
            if package == target or package in target.parents:
                return package
    return target


_SKIPPED = {".git", "node_modules", ".sfdx", ".sf", "__pycache__", ".jtel-sf"}


def check_platform(
    target: Path,
    apex_files: Sequence[Path],
    xml_files: Sequence[Path],
    project: Path | None,
    toolchain_root: Path | None,
) -> list[Finding]:
    """All platform rules on ``target``; names resolve across its whole package folder, findings are
    reported for files in ``target`` (and for the project files when ``target`` is a package folder
    or the project)."""
    rules = load_rules()
    scope = _scope(target, project)
    if scope != target:
        xml_files = sorted(
            p for p in scope.rglob("*.xml") if not _SKIPPED.intersection(p.relative_to(scope).parts)
        )
    documents = {path: root for path in xml_files if (root := parse_xml(path)) is not None}
    source = Source(scope, documents)
    findings = [
        *check_text_limits(source, rules),
        *check_decomposed_full_names(source, rules),
        *check_field_permissions(source),
        *check_field_definitions(source, rules),
        *check_permission_dependencies(source, rules),
        *check_references(source),
        *check_tab_motifs(source, rules),
        *check_folders(source),
        *check_report_type_labels(source),
        *check_profile_lookups(apex_files),
        *check_locking_queries(apex_files),
        *check_unconditional_recursion(apex_files),
    ]
    findings = [f for f in findings if Path(f.path) == target or target in Path(f.path).parents]
    if project is not None and toolchain_root is not None and (scope == target or target == project):
        findings += check_project_files(project, toolchain_root.joinpath(*SCHEMAS_PACKAGE))
    return findings

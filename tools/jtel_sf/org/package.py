"""Build a Metadata API deploy zip from SFDX source format, without the sf CLI.

``build_package(source_dir)`` walks the source tree, converts each file to its Metadata API
form (``X.permissionset-meta.xml`` -> ``permissionsets/X.permissionset``; decomposed objects
``objects/X/X.object-meta.xml`` + ``fields/`` + ``listViews/`` ... recomposed into
``objects/X.object``), writes a ``package.xml`` listing exactly the components found, and
remembers for every line of every zip file which source file and line it came from, so deploy
errors can be reported as ``source-file:line:col``.

The one table of folder -> metadata type is ``SOURCE_TYPES`` (+ ``OBJECT_CHILDREN`` and the
folder types below). A file the table does not know is an error, never silently dropped.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from ..errors import UsageError

MD_NAMESPACE = "http://soap.sforce.com/2006/04/metadata"
META = "-meta.xml"


@dataclass(frozen=True)
class SourceType:
    """A folder of one metadata type: ``<folder>/<Name>.<suffix>[-meta.xml]``."""

    folder: str
    suffix: str
    type: str
    has_content: bool = False  # a content file (X.cls) next to its X.cls-meta.xml


# Metadata API Developer Guide, "Metadata Types" (file suffix and directory location of each type).
SOURCE_TYPES: tuple[SourceType, ...] = (
    SourceType("classes", "cls", "ApexClass", has_content=True),
    SourceType("triggers", "trigger", "ApexTrigger", has_content=True),
    SourceType("pages", "page", "ApexPage", has_content=True),
    SourceType("components", "component", "ApexComponent", has_content=True),
    SourceType("customMetadata", "md", "CustomMetadata"),
    SourceType("permissionsets", "permissionset", "PermissionSet"),
    SourceType("permissionsetgroups", "permissionsetgroup", "PermissionSetGroup"),
    SourceType("layouts", "layout", "Layout"),
    SourceType("reportTypes", "reportType", "ReportType"),
    SourceType("tabs", "tab", "CustomTab"),
    SourceType("applications", "app", "CustomApplication"),
    SourceType("flexipages", "flexipage", "FlexiPage"),
    SourceType("flows", "flow", "Flow"),
    SourceType("customPermissions", "customPermission", "CustomPermission"),
    SourceType("remoteSiteSettings", "remoteSite", "RemoteSiteSetting"),
    SourceType("namedCredentials", "namedCredential", "NamedCredential"),
    SourceType("globalValueSets", "globalValueSet", "GlobalValueSet"),
    SourceType("labels", "labels", "CustomLabels"),
    SourceType("externalClientApps", "eca", "ExternalClientApplication"),
    SourceType("extlClntAppOauthSettings", "ecaOauth", "ExtlClntAppOauthSettings"),
    SourceType("extlClntAppOauthPolicies", "ecaOauthPlcy", "ExtlClntAppOauthConfigurablePolicies"),
    SourceType("extlClntAppPolicies", "ecaPlcy", "ExtlClntAppConfigurablePolicies"),
)

# Never deployed from source: holds the consumer key and secret (platform facts, Metadata API guide).
FORBIDDEN_FOLDERS: dict[str, str] = {
    "extlClntAppGlobalOauthSets": "ExtlClntAppGlobalOauthSettings holds the consumer key and secret; "
    "it must not be in source control",
}

# Decomposed CustomObject children: source folder -> (source suffix, element in X.object, type).
OBJECT_CHILDREN: dict[str, tuple[str, str, str]] = {
    "fields": ("field", "fields", "CustomField"),
    "listViews": ("listView", "listViews", "ListView"),
    "validationRules": ("validationRule", "validationRules", "ValidationRule"),
    "recordTypes": ("recordType", "recordTypes", "RecordType"),
    "webLinks": ("webLink", "webLinks", "WebLink"),
    "compactLayouts": ("compactLayout", "compactLayouts", "CompactLayout"),
    "businessProcesses": ("businessProcess", "businessProcesses", "BusinessProcess"),
    "fieldSets": ("fieldSet", "fieldSets", "FieldSet"),
    "sharingReasons": ("sharingReason", "sharingReasons", "SharingReason"),
    "indexes": ("index", "indexes", "Index"),
}
OBJECTS_FOLDER = "objects"
# Folder-based types: <folder>/<F>.<folderSuffix>-meta.xml and <folder>/<F>/<N>.<suffix>-meta.xml.
FOLDERED_TYPES: dict[str, tuple[str, str, str]] = {
    "reports": ("reportFolder", "report", "Report"),
    "dashboards": ("dashboardFolder", "dashboard", "Dashboard"),
}
_BY_FOLDER = {t.folder: t for t in SOURCE_TYPES}
_KNOWN_FOLDERS = set(_BY_FOLDER) | set(FORBIDDEN_FOLDERS) | {OBJECTS_FOLDER} | set(FOLDERED_TYPES)
_IGNORED_NAMES = {".DS_Store", ".gitkeep", "Thumbs.db"}
_ROOT_OPEN = re.compile(r"\A\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*<([A-Za-z]\w*)(\s[^>]*)?>", re.S)


@dataclass(frozen=True)
class Segment:
    """Lines ``out_start..out_end`` (1-based) of a zip file come from ``source`` from ``source_start``."""

    out_start: int
    out_end: int
    source: Path
    source_start: int


@dataclass(frozen=True)
class Component:
    type: str
    name: str
    source: Path  # the file an error about this component should point to


@dataclass
class DeployPackage:
    api_version: str
    source_dir: Path
    files: dict[str, bytes] = field(default_factory=dict)  # zip path -> content (without package.xml)
    components: list[Component] = field(default_factory=list)
    segments: dict[str, list[Segment]] = field(default_factory=dict)
    apex_sources: dict[str, Path] = field(default_factory=dict)  # ApexClass name -> .cls file

    def members(self) -> dict[str, list[str]]:
        by_type: dict[str, set[str]] = defaultdict(set)
        for component in self.components:
            by_type[component.type].add(component.name)
        return {name: sorted(by_type[name]) for name in sorted(by_type)}

    def package_xml(self) -> str:
        lines = ['<?xml version="1.0" encoding="UTF-8"?>', f'<Package xmlns="{MD_NAMESPACE}">']
        for type_name, members in self.members().items():
            lines.append("    <types>")
            lines.extend(f"        <members>{escape(m)}</members>" for m in members)
            lines.append(f"        <name>{type_name}</name>")
            lines.append("    </types>")
        lines.append(f"    <version>{self.api_version}</version>")
        lines.append("</Package>")
        return "\n".join(lines) + "\n"

    def to_zip(self) -> bytes:
        """The deploy zip (``singlePackage``: package.xml at the root), byte-for-byte reproducible."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            entries = {"package.xml": self.package_xml().encode("utf-8"), **self.files}
            for name in sorted(entries):
                info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, entries[name])
        return buffer.getvalue()

    def component(self, type_name: str, name: str) -> Component | None:
        for candidate in self.components:
            if candidate.type == type_name and candidate.name == name:
                return candidate
        return None

    def locate(self, zip_path: str | None, line: int | None) -> tuple[Path | None, int | None]:
        """Source file and line for a line of a zip file (``None`` when the file is unknown)."""
        if not zip_path:
            return None, line
        zip_path = zip_path.removeprefix("unpackaged/")
        segments = self.segments.get(zip_path)
        if not segments:
            return None, line
        if line is None:
            return segments[0].source, None
        for segment in segments:
            if segment.out_start <= line <= segment.out_end:
                return segment.source, segment.source_start + (line - segment.out_start)
        return segments[0].source, None

    def test_classes(self) -> list[str]:
        """The classes RunSpecifiedTests names: ``@IsTest`` classes with test methods, sorted."""
        return sorted(
            name for name, path in self.apex_sources.items() if is_test_class(path.read_text("utf-8"))
        )

    def coverage_classes(self) -> list[str]:
        """The classes the org measures coverage of: every class *not* annotated ``@IsTest`` (test
        classes and test helpers alike are never measured: Apex Developer Guide, "Understanding
        Code Coverage") that has executable code, sorted."""
        names = []
        for name, path in self.apex_sources.items():
            source = path.read_text("utf-8")
            if not is_test_annotated(source) and has_executable_code(source):
                names.append(name)
        return sorted(names)


# Comments and string literals in one pass, so a quote inside a comment (or // inside a string)
# cannot swallow code.
_COMMENTS_AND_STRINGS = re.compile(r"/\*.*?\*/|//[^\n]*|'(?:\\.|[^'\\\n])*'", re.S)
_TEST_METHOD = re.compile(r"@istest\b(?:\s*\([^)]*\))?\s+(?:\w+\s+)*void\s+\w+\s*\(|\btestmethod\b", re.I)
_TEST_CLASS = re.compile(
    r"@istest\b(?:\s*\([^)]*\))?(?:\s+|\s*@\w+(?:\s*\([^)]*\))?\s*)*(?:\w+\s+)*class\s+\w+", re.I
)


def strip_apex_comments(source: str) -> str:
    """The source with comments blanked and string literals emptied."""
    return _COMMENTS_AND_STRINGS.sub(lambda m: "''" if m.group(0).startswith("'") else " ", source)


def is_test_class(source: str) -> bool:
    """True when the top-level class carries ``@IsTest`` and has test methods (comments and strings
    ignored). An ``@IsTest`` helper without test methods (a data factory) is not one: naming it in
    RunSpecifiedTests would fail the deploy."""
    code = strip_apex_comments(source)
    head, _, body = code.partition("{")
    return bool(_TEST_CLASS.search(head)) and bool(_TEST_METHOD.search(body))


def is_test_annotated(source: str) -> bool:
    """True when the top-level class carries ``@IsTest`` (a test class or a test helper). Salesforce
    reports no code coverage for such classes, helpers included (shared platform facts, checked
    against the Apex Developer Guide, "IsTest Annotation": they are test code, outside the org's
    Apex size limit), so coverage must not be asked of them."""
    head = strip_apex_comments(source).partition("{")[0]
    return bool(_TEST_CLASS.search(head))


def has_executable_code(source: str) -> bool:
    """False for classes with nothing coverage could measure (only a declaration, e.g. an exception)."""
    code = strip_apex_comments(source)
    body = code.split("{", 1)[1] if "{" in code else ""
    return bool(re.search(r"[;(]", body))


def _split_root(text: str, path: Path) -> tuple[str, str, int]:
    """(root tag, body between the root tags, 1-based line where the body starts)."""
    match = _ROOT_OPEN.match(text)
    if not match:
        raise UsageError(f"{path}: not a metadata XML file (no root element found)")
    tag = match.group(1)
    close = text.rfind(f"</{tag}>")
    if close < match.end():
        if text.rstrip().endswith("/>"):
            return tag, "", text.count("\n", 0, match.end()) + 1
        raise UsageError(f"{path}: the root element <{tag}> is not closed")
    return tag, text[match.end() : close], text.count("\n", 0, match.end()) + 1


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None


class _Builder:
    def __init__(self, source_dir: Path, api_version: str) -> None:
        self.package = DeployPackage(api_version=api_version, source_dir=source_dir)
        self.objects: dict[str, dict[str, list[Path]]] = defaultdict(lambda: defaultdict(list))
        self.object_files: dict[str, Path] = {}

    def add_verbatim(self, zip_path: str, path: Path, *, text: bool = True) -> None:
        if zip_path in self.package.files:
            raise UsageError(f"{path}: a second source file for {zip_path}")
        data = path.read_bytes()
        self.package.files[zip_path] = data
        lines = data.count(b"\n") + 1
        self.package.segments[zip_path] = [Segment(1, lines, path, 1)]

    def add_component(self, type_name: str, name: str, source: Path) -> None:
        if self.package.component(type_name, name):
            raise UsageError(f"{source}: {type_name} {name} is defined twice")
        self.package.components.append(Component(type_name, name, source))

    def add_file(self, path: Path, rel: tuple[str, ...]) -> None:
        folder_index = next((i for i, part in enumerate(rel[:-1]) if part in _KNOWN_FOLDERS), None)
        if folder_index is None:
            raise UsageError(
                f"{path}: not in a metadata folder jtel-sf knows ({', '.join(sorted(_KNOWN_FOLDERS))})",
                hint="Add the type to SOURCE_TYPES in jtel_sf/org/package.py if it should be deployed.",
            )
        folder = rel[folder_index]
        inner = rel[folder_index + 1 :]
        if folder in FORBIDDEN_FOLDERS:
            raise UsageError(f"{path}: {FORBIDDEN_FOLDERS[folder]}")
        if folder == OBJECTS_FOLDER:
            self.add_object_part(path, inner)
        elif folder in FOLDERED_TYPES:
            self.add_foldered(path, folder, inner)
        else:
            self.add_simple(path, _BY_FOLDER[folder], inner)

    def add_simple(self, path: Path, kind: SourceType, inner: tuple[str, ...]) -> None:
        name = inner[-1]
        if len(inner) != 1:
            raise UsageError(f"{path}: {kind.folder}/ takes files directly, not subfolders")
        if kind.has_content:
            if name.endswith(f".{kind.suffix}{META}"):
                member = name[: -len(f".{kind.suffix}{META}")]
                if not path.with_name(f"{member}.{kind.suffix}").is_file():
                    raise UsageError(f"{path}: the {kind.type} has no {member}.{kind.suffix} next to it")
                self.add_verbatim(f"{kind.folder}/{member}.{kind.suffix}{META}", path)
                return
            if name.endswith(f".{kind.suffix}"):
                member = name[: -len(f".{kind.suffix}")]
                if not path.with_name(name + META).is_file():
                    raise UsageError(f"{path}: missing {name}{META} (API version and status)")
                self.add_verbatim(f"{kind.folder}/{name}", path)
                self.add_component(kind.type, member, path)
                if kind.type == "ApexClass":
                    self.package.apex_sources[member] = path
                return
        elif name.endswith(f".{kind.suffix}{META}"):
            member = name[: -len(f".{kind.suffix}{META}")]
            self.add_verbatim(f"{kind.folder}/{member}.{kind.suffix}", path)
            self.add_component(kind.type, member, path)
            return
        raise UsageError(
            f"{path}: expected *.{kind.suffix}{'' if kind.has_content else META} in {kind.folder}/"
        )

    def add_foldered(self, path: Path, folder: str, inner: tuple[str, ...]) -> None:
        folder_suffix, suffix, type_name = FOLDERED_TYPES[folder]
        name = inner[-1]
        if len(inner) == 1 and name.endswith(f".{folder_suffix}{META}"):
            member = name[: -len(f".{folder_suffix}{META}")]
            self.add_verbatim(f"{folder}/{member}{META}", path)
            self.add_component(type_name, member, path)
            return
        if len(inner) >= 2 and name.endswith(f".{suffix}{META}"):
            member = "/".join([*inner[:-1], name[: -len(f".{suffix}{META}")]])
            self.add_verbatim(f"{folder}/{member}.{suffix}", path)
            self.add_component(type_name, member, path)
            return
        raise UsageError(
            f"{path}: expected {folder}/<Folder>.{folder_suffix}{META} or {folder}/<Folder>/*.{suffix}{META}"
        )

    def add_object_part(self, path: Path, inner: tuple[str, ...]) -> None:
        if len(inner) == 2 and inner[1] == f"{inner[0]}.object{META}":
            self.object_files[inner[0]] = path
            return
        if len(inner) == 3 and inner[1] in OBJECT_CHILDREN:
            suffix = OBJECT_CHILDREN[inner[1]][0]
            if inner[2].endswith(f".{suffix}{META}"):
                self.objects[inner[0]][inner[1]].append(path)
                return
        raise UsageError(
            f"{path}: expected objects/<Object>/<Object>.object{META} "
            f"or objects/<Object>/<part>/<Name>.<part>{META}"
        )

    def recompose_objects(self) -> None:
        for object_name in sorted(set(self.objects) | set(self.object_files)):
            zip_path = f"{OBJECTS_FOLDER}/{object_name}.object"
            out: list[str] = [
                '<?xml version="1.0" encoding="UTF-8"?>',
                f'<CustomObject xmlns="{MD_NAMESPACE}">',
            ]
            segments: list[Segment] = []
            parent = self.object_files.get(object_name)
            if parent is not None:
                tag, body, start = _split_root(_read(parent), parent)
                if tag != "CustomObject":
                    raise UsageError(f"{parent}: root element is <{tag}>, expected <CustomObject>")
                self._append(out, segments, "", body, "", parent, start)
                self.add_component("CustomObject", object_name, parent)
            for folder in sorted(self.objects[object_name], key=lambda f: OBJECT_CHILDREN[f][1]):
                suffix, element, type_name = OBJECT_CHILDREN[folder]
                # the order the Salesforce CLI recomposes in: by name, case-insensitively (checked
                # against `sf project convert source` by tests/test_sf_cli_convert.py)
                cut = len(f".{suffix}{META}")
                children = sorted(self.objects[object_name][folder], key=lambda p: p.name[:-cut].lower())
                for child in children:
                    child_name = child.name[: -len(f".{suffix}{META}")]
                    _tag, body, start = _split_root(_read(child), child)
                    if "<fullName>" not in body:
                        # The sf CLI copies a decomposed child into the object file unchanged, so a
                        # child without its own <fullName> deploys differently (or not at all) there.
                        raise UsageError(
                            f"{child}: no <fullName>{child_name}</fullName>",
                            hint="Every decomposed child file (field, list view, compact layout, ...) must "
                            "name itself; the Salesforce CLI does not add it.",
                        )
                    self._append(out, segments, f"    <{element}>", body, f"</{element}>", child, start)
                    self.add_component(type_name, f"{object_name}.{child_name}", child)
            out.append("</CustomObject>")
            self.package.files[zip_path] = ("\n".join(out) + "\n").encode("utf-8")
            self.package.segments[zip_path] = segments

    @staticmethod
    def _append(
        out: list[str],
        segments: list[Segment],
        opening: str,
        body: str,
        closing: str,
        source: Path,
        root_line: int,
    ) -> None:
        """Append ``opening + body + closing`` line for line, recording where each line came from.

        ``root_line`` is the source line of the root tag's ``>``, where the body begins.
        """
        pieces = body.split("\n")
        line = root_line
        if not opening:  # the parent object's own elements: drop the blank first and last pieces
            if not pieces[0].strip():
                pieces = pieces[1:]
                line += 1
            while pieces and not pieces[-1].strip():
                pieces.pop()
            if not pieces:
                return
        else:
            pieces[0] = opening + pieces[0]
            if len(pieces) > 1 and not pieces[-1].strip():
                pieces[-1] = "    " + closing
            else:
                pieces[-1] += closing
        first = len(out) + 1
        out.extend(pieces)
        segments.append(Segment(first, len(out), source, line))


def build_package(source_dir: Path, api_version: str) -> DeployPackage:
    """Convert every metadata file under ``source_dir`` (e.g. ``force-app``) into a deploy package."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise UsageError(f"--source-dir {source_dir} is not a directory")
    builder = _Builder(source_dir, api_version)
    for path in sorted(source_dir.rglob("*")):
        if path.is_dir() or path.name in _IGNORED_NAMES or path.name.startswith("."):
            continue
        rel = path.relative_to(source_dir).parts
        if any(part.startswith(".") for part in rel):
            continue
        builder.add_file(path, rel)
    builder.recompose_objects()
    if not builder.package.components:
        raise UsageError(f"no metadata found under {source_dir}")
    return builder.package

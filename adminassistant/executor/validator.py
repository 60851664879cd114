"""The static check of a snippet: parsed with `ast`, never compiled, never exec'd or eval'd.

A snippet passes only if every node, name, attribute, call and literal is on an allowlist:

- nodes: assignments to plain names, expressions, calls, attribute access, names, literals,
  lists/tuples/dicts, comparisons, boolean/unary/binary operators (no `**`), constant
  subscripts and slices, conditional expressions. No imports, loops, comprehensions, lambdas,
  function or class definitions, `try`/`with`, f-strings, starred or `**` arguments;
- names: the manifest's models, the helpers (`Q`, `F`, aggregates, date truncation and
  extraction, `now`, `today`, `timedelta`, `date`) and variables the snippet assigned;
- attributes: `<Model>.objects`, then only read-only QuerySet methods, called; a few read-only
  date attributes; never a name starting with `_`;
- strings and keywords: no hop of a lookup may name a denylisted field (filters count:
  `password__startswith=` is an oracle). The interpreter then checks every lookup hop by hop
  against the asking user's manifest, with the model known, before any query is built;
- size: code length, node count, nesting depth, literal sizes.

A refusal names its rule (`Refused.rule`), which is logged and sent back to the model once.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from django.conf import settings

from adminassistant import denylist

# Read-only QuerySet methods a snippet may call (through QuerySet itself, never the object).
QUERYSET_METHODS = frozenset(
    {
        "all",
        "filter",
        "exclude",
        "order_by",
        "values",
        "values_list",
        "annotate",
        "aggregate",
        "count",
        "exists",
        "distinct",
        "first",
        "last",
        "reverse",
        "none",
        "dates",
        "datetimes",
    }
)
# Methods of expressions and dates.
VALUE_METHODS = frozenset({"desc", "asc", "date", "replace", "isoformat"})
VALUE_ATTRIBUTES = frozenset({"year", "month", "day", "hour", "minute", "second", "weekday"})
# Attributes that are refused with their own rule, for a clear message.
WRITE_METHODS = frozenset(
    {
        "update",
        "delete",
        "create",
        "get_or_create",
        "update_or_create",
        "bulk_create",
        "bulk_update",
        "save",
        "select_for_update",
        "aupdate",
        "adelete",
        "acreate",
        "add",
        "remove",
        "set",
        "clear",
    }
)
RAW_METHODS = frozenset({"raw", "extra", "using", "db_manager", "query", "get_compiler", "connection", "cursor"})

AGGREGATES = ("Count", "Sum", "Avg", "Min", "Max", "StdDev", "Variance")
DATE_FUNCTIONS = (
    "TruncDate",
    "TruncDay",
    "TruncWeek",
    "TruncMonth",
    "TruncQuarter",
    "TruncYear",
    "TruncHour",
    "ExtractYear",
    "ExtractQuarter",
    "ExtractMonth",
    "ExtractWeek",
    "ExtractDay",
    "ExtractWeekDay",
    "ExtractIsoWeekDay",
    "ExtractHour",
)
HELPERS = frozenset({"Q", "F", *AGGREGATES, *DATE_FUNCTIONS, "now", "today", "timedelta", "date"})
RESERVED = frozenset({"True", "False", "None"})

ALLOWED_NODES: tuple[type[ast.AST], ...] = (
    ast.Module,
    ast.Assign,
    ast.Expr,
    ast.Call,
    ast.Attribute,
    ast.Name,
    ast.Load,
    ast.Store,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Dict,
    ast.keyword,
    ast.Compare,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Invert,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.BitOr,
    ast.BitAnd,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.Subscript,
    ast.Slice,
    ast.IfExp,
)
MAX_NODES = 1500
MAX_DEPTH = 40
MAX_STRING = 500
MAX_INT = 10**15
MAX_COLLECTION = 1000


_LOOKUP_LIKE = re.compile(r"^-?[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class Refused(Exception):
    """The snippet broke `rule` (a stable name, logged and shown)."""

    rule: str
    message: str
    line: int = 0

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line else ""
        return f"{self.rule}: {self.message}{where}"


def check_lookup_names(text: str, node: ast.AST | None = None) -> None:
    """Refuse a string or keyword naming a denylisted field in any hop (`user__password__startswith`)."""
    line = getattr(node, "lineno", 0)
    if not _LOOKUP_LIKE.match(text):
        return  # data (spaces, punctuation), not a field path
    hops = text.lstrip("-").split("__")
    if "" in hops:
        raise Refused("private_name", f"'{text}' is not a valid field path.", line)
    for hop in hops:
        if hop.startswith("_") and hop:
            raise Refused("private_name", f"'{text}' names a private attribute.", line)
        if denylist.field_name_denied(hop):
            raise Refused("denied_field", f"'{text}' reaches a field the assistant may not read.", line)


class _Validator(ast.NodeVisitor):
    def __init__(self, model_names: set[str]) -> None:
        self.model_names = model_names
        self.variables: set[str] = set()
        self.assigns_result = False
        self.nodes = 0

    def generic_visit(self, node: ast.AST) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise Refused("too_large", f"The code has more than {MAX_NODES} syntax nodes.")
        if not isinstance(node, ALLOWED_NODES):
            raise Refused("node_not_allowed", f"{type(node).__name__} is not allowed.", getattr(node, "lineno", 0))
        super().generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name):
            raise Refused("assign_target", "Assign to one plain variable name.", node.lineno)
        name = node.targets[0].id
        if name in self.model_names or name in HELPERS or name in RESERVED or name.startswith("_"):
            raise Refused("assign_target", f"'{name}' cannot be assigned.", node.lineno)
        self.visit(node.value)  # the value first: `x = x` with x unknown is refused
        self.variables.add(name)
        if name == "result":
            self.assigns_result = True
        self.nodes += 1

    def visit_Name(self, node: ast.Name) -> None:
        self.nodes += 1
        if node.id.startswith("_"):
            raise Refused("private_name", f"'{node.id}' is private.", node.lineno)
        if not isinstance(node.ctx, ast.Load):
            raise Refused("assign_target", f"'{node.id}' cannot be assigned here.", node.lineno)
        if node.id not in self.model_names and node.id not in HELPERS and node.id not in self.variables:
            raise Refused("name_not_allowed", f"'{node.id}' is not a model, helper or variable.", node.lineno)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.nodes += 1
        attr = node.attr
        if attr.startswith("_"):
            raise Refused("private_attribute", f"'.{attr}' is private.", node.lineno)
        if attr == "objects":
            if not isinstance(node.value, ast.Name):
                raise Refused("chain_root", "'.objects' is only allowed on a model name.", node.lineno)
            if node.value.id not in self.model_names:
                raise Refused("name_not_allowed", f"'{node.value.id}' is not a model available to you.", node.lineno)
            return
        if attr in WRITE_METHODS:
            raise Refused("write_method", f"'.{attr}()' writes; the assistant only reads.", node.lineno)
        if attr in RAW_METHODS:
            raise Refused("raw_sql", f"'.{attr}' is not allowed.", node.lineno)
        if attr not in VALUE_ATTRIBUTES:
            raise Refused("attribute_not_allowed", f"'.{attr}' is not an allowed attribute.", node.lineno)
        self.visit(node.value)

    def visit_Call(self, node: ast.Call) -> None:
        self.nodes += 1
        func = node.func
        if isinstance(func, ast.Name):
            if func.id not in HELPERS:
                raise Refused("call_not_allowed", f"'{func.id}()' is not an allowed function.", node.lineno)
        elif isinstance(func, ast.Attribute):
            attr = func.attr
            if attr.startswith("_"):
                raise Refused("private_attribute", f"'.{attr}' is private.", node.lineno)
            if attr in WRITE_METHODS:
                raise Refused("write_method", f"'.{attr}()' writes; the assistant only reads.", node.lineno)
            if attr in RAW_METHODS:
                raise Refused("raw_sql", f"'.{attr}()' is not allowed.", node.lineno)
            if attr not in QUERYSET_METHODS and attr not in VALUE_METHODS:
                raise Refused("method_not_allowed", f"'.{attr}()' is not a read-only QuerySet method.", node.lineno)
            self.visit(func.value)
        else:
            raise Refused("call_not_allowed", "Only helpers and QuerySet methods can be called.", node.lineno)
        for arg in node.args:
            self.visit(arg)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise Refused("dynamic_keywords", "'**' arguments are not allowed.", node.lineno)
            check_lookup_names(keyword.arg, node)
            self.visit(keyword.value)

    def visit_Constant(self, node: ast.Constant) -> None:
        self.nodes += 1
        value = node.value
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise Refused("literal_too_large", f"A string is longer than {MAX_STRING} characters.", node.lineno)
            check_lookup_names(value, node)
        elif isinstance(value, bool) or value is None:
            return
        elif isinstance(value, int):
            if abs(value) > MAX_INT:
                raise Refused("literal_too_large", "A number is too large.", node.lineno)
        elif isinstance(value, float):
            return
        else:
            raise Refused("literal_not_allowed", f"{type(value).__name__} literals are not allowed.", node.lineno)

    def _collection(self, node: ast.List | ast.Tuple | ast.Dict) -> None:
        items = node.keys if isinstance(node, ast.Dict) else node.elts
        if len(items) > MAX_COLLECTION:
            raise Refused("literal_too_large", f"A literal has more than {MAX_COLLECTION} items.", node.lineno)
        if isinstance(node, ast.Dict) and any(key is None for key in node.keys):
            raise Refused("dynamic_keywords", "'**' in a dict is not allowed.", node.lineno)
        self.generic_visit(node)

    visit_List = visit_Tuple = visit_Dict = _collection

    def visit_BinOp(self, node: ast.BinOp) -> None:
        if isinstance(node.op, ast.Mult):  # 'x' * 10**9: the repeat count must be a small literal
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and isinstance(side.value, int) and abs(side.value) > 10_000:
                    raise Refused("literal_too_large", "A multiplication by a huge number.", node.lineno)
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self.nodes += 1
        index = node.slice
        if isinstance(index, ast.Slice):
            if index.step is not None:
                raise Refused("subscript_not_allowed", "Slices take no step.", node.lineno)
            for bound in (index.lower, index.upper):
                if bound is not None and not (isinstance(bound, ast.Constant) and type(bound.value) is int):
                    raise Refused("subscript_not_allowed", "Slice bounds must be integer literals.", node.lineno)
                if bound is not None:
                    self.visit(bound)
        elif isinstance(index, ast.Constant) and type(index.value) in (int, str):
            self.visit(index)
        else:
            raise Refused("subscript_not_allowed", "Only literal indexes, keys and slices are allowed.", node.lineno)
        self.visit(node.value)


def _depth(node: ast.AST, level: int = 0) -> int:
    if level > MAX_DEPTH:
        raise Refused("too_deep", f"The code nests deeper than {MAX_DEPTH} levels.", getattr(node, "lineno", 0))
    return max((_depth(child, level + 1) for child in ast.iter_child_nodes(node)), default=level)


def validate(code: str, *, model_names: set[str]) -> ast.Module:
    """The parsed, validated tree of `code`; raises Refused."""
    if len(code) > settings.ADMIN_ASSISTANT_MAX_CODE_CHARS:
        raise Refused("code_too_long", f"The code is longer than {settings.ADMIN_ASSISTANT_MAX_CODE_CHARS} characters.")
    if code.count("(") + code.count("[") + code.count("{") > MAX_NODES:
        raise Refused("too_deep", "The code nests too deeply.")
    try:
        tree = ast.parse(code, mode="exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise Refused("syntax", f"The code is not valid Python: {getattr(exc, 'msg', exc)}.") from None
    _depth(tree)
    validator = _Validator(model_names)
    for statement in tree.body:
        if not isinstance(statement, ast.Assign | ast.Expr):
            raise Refused(
                "node_not_allowed",
                f"{type(statement).__name__} statements are not allowed.",
                getattr(statement, "lineno", 0),
            )
        validator.visit(statement)
    if not validator.assigns_result:
        raise Refused("result_missing", "The code must assign its answer to `result`.")
    return tree

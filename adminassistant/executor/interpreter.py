"""The project's own small interpreter of a validated snippet (never `exec`/`eval`).

It walks the tree the validator accepted and evaluates each node itself:

- `<Model>.objects` is a plain `QuerySet(model, using=<the assistant's alias>)`, never the
  model's manager (a custom manager's methods are never reachable);
- a method call on a QuerySet is made through `QuerySet` itself (`QuerySet.filter(qs, ...)`),
  after every lookup string, keyword, `F()`, `Q()` and aggregate argument was checked hop by
  hop against the asking user's manifest (the model is known here) and the denylist;
- a model QuerySet that is read (first/last, an index, the result) is first narrowed to the
  manifest's readable columns with `values(...)`: a row never carries a denied column, so the
  restricted database role (column grants) never sees a query for one;
- values are only scalars, dates, lists/tuples/dicts of them, QuerySets, Q/F and expressions
  built from the helpers; operators work on those types only, with size caps.
"""

from __future__ import annotations

import ast
import datetime
import operator
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import models
from django.db.models import F, Q, QuerySet, functions
from django.db.models.expressions import BaseExpression, Combinable
from django.utils import timezone

from adminassistant import denylist
from adminassistant.executor.validator import AGGREGATES, DATE_FUNCTIONS, QUERYSET_METHODS, Refused
from adminassistant.manifest import Manifest

LOOKUPS = frozenset(
    {
        "exact",
        "iexact",
        "contains",
        "icontains",
        "in",
        "gt",
        "gte",
        "lt",
        "lte",
        "startswith",
        "istartswith",
        "endswith",
        "iendswith",
        "range",
        "isnull",
        "regex",
        "iregex",
        "date",
        "time",
        "year",
        "iso_year",
        "month",
        "day",
        "week",
        "week_day",
        "iso_week_day",
        "quarter",
        "hour",
        "minute",
        "second",
    }
)
SCALARS = (int, float, Decimal, str, bool, type(None), datetime.date, datetime.datetime, datetime.timedelta)
MAX_STRING_RESULT = 10_000
AGGREGATE_KWARGS = frozenset({"filter", "distinct", "default"})


class EvaluationError(Exception):
    """The snippet failed while it was evaluated (a wrong type, a missing key, division by zero)."""


class ModelRef:
    def __init__(self, model: Any) -> None:
        self.model = model


def _now() -> datetime.datetime:
    return timezone.now()


def _today() -> datetime.date:
    return timezone.localdate()


def _timedelta(**kwargs: Any) -> datetime.timedelta:
    allowed = {"weeks", "days", "hours", "minutes", "seconds"}
    if set(kwargs) - allowed or not all(isinstance(v, int | float) and abs(v) < 10**7 for v in kwargs.values()):
        raise Refused("helper_arguments", f"timedelta() takes numbers for {sorted(allowed)}.")
    return datetime.timedelta(**kwargs)


def _date(year: Any, month: Any, day: Any) -> datetime.date:
    if not all(type(v) is int for v in (year, month, day)):
        raise Refused("helper_arguments", "date() takes three integers.")
    return datetime.date(year, month, day)


_AGGREGATES: dict[str, Any] = {name: getattr(models, name) for name in AGGREGATES}
_FUNCTIONS: dict[str, Any] = {name: getattr(functions, name) for name in DATE_FUNCTIONS}
_PLAIN: dict[str, Callable[..., Any]] = {"now": _now, "today": _today, "timedelta": _timedelta, "date": _date}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.BitOr: operator.or_,
    ast.BitAnd: operator.and_,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}


def is_model_queryset(qs: QuerySet[Any]) -> bool:
    return qs._iterable_class is models.query.ModelIterable


class Interpreter:
    def __init__(self, *, manifest: Manifest, alias: str) -> None:
        self.manifest = manifest
        self.alias = alias
        self.env: dict[str, Any] = {}

    def run(self, tree: ast.Module) -> Any:
        for statement in tree.body:
            if isinstance(statement, ast.Assign):
                target = statement.targets[0]
                assert isinstance(target, ast.Name)
                self.env[target.id] = self.eval(statement.value)
            elif isinstance(statement, ast.Expr):
                self.eval(statement.value)
        return self.env["result"]

    # --- Nodes ----------------------------------------------------------------------------------

    def eval(self, node: ast.AST) -> Any:
        method = getattr(self, f"_eval_{type(node).__name__}", None)
        if method is None:
            raise Refused("node_not_allowed", f"{type(node).__name__} is not allowed.", getattr(node, "lineno", 0))
        return method(node)

    def _eval_Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _eval_Name(self, node: ast.Name) -> Any:
        if node.id in self.env:
            return self.env[node.id]
        info = self.manifest.models.get(node.id)
        if info is not None:
            return ModelRef(info.model)
        if node.id in _AGGREGATES or node.id in _FUNCTIONS or node.id in _PLAIN or node.id in ("Q", "F"):
            return node.id  # a helper's name: only callable, see _eval_Call
        raise Refused("name_not_allowed", f"'{node.id}' is not defined.", node.lineno)

    def _eval_List(self, node: ast.List) -> list[Any]:
        return [self._scalar(self.eval(item), node) for item in node.elts]

    def _eval_Tuple(self, node: ast.Tuple) -> tuple[Any, ...]:
        return tuple(self._scalar(self.eval(item), node) for item in node.elts)

    def _eval_Dict(self, node: ast.Dict) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in zip(node.keys, node.values, strict=True):
            assert key_node is not None
            key = self.eval(key_node)
            if not isinstance(key, str | int):
                raise Refused("dict_key", "Dict keys must be strings or integers.", node.lineno)
            out[key] = self.eval(value_node)
        return out

    def _scalar(self, value: Any, node: ast.AST) -> Any:
        if isinstance(value, ModelRef) or (isinstance(value, str) and value in _PLAIN):
            raise Refused("value_not_allowed", "Models and helpers are not values.", getattr(node, "lineno", 0))
        return value

    def _eval_BinOp(self, node: ast.BinOp) -> Any:
        left, right = self.eval(node.left), self.eval(node.right)
        for side in (left, right):
            if not isinstance(side, (*SCALARS, Q, Combinable)) or isinstance(side, QuerySet):
                raise Refused("operand_not_allowed", f"{type(side).__name__} cannot be an operand.", node.lineno)
        if isinstance(node.op, ast.Mult) and (isinstance(left, str) or isinstance(right, str)):
            count = right if isinstance(left, str) else left
            if not isinstance(count, int) or count * max(len(str(left)), len(str(right))) > MAX_STRING_RESULT:
                raise Refused("literal_too_large", "A repeated string would be too long.", node.lineno)
        joined = isinstance(node.op, ast.Add) and isinstance(left, str) and isinstance(right, str)
        if joined and len(left) + len(right) > MAX_STRING_RESULT:
            raise Refused("literal_too_large", "A string would be too long.", node.lineno)
        try:
            return _BINARY[type(node.op)](left, right)
        except (ArithmeticError, TypeError, ValueError) as exc:
            raise EvaluationError(f"line {node.lineno}: {exc}") from None

    def _eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not self._truth(value, node)
        if isinstance(node.op, ast.Invert):
            if not isinstance(value, Q):
                raise Refused("operand_not_allowed", "'~' applies to Q() only.", node.lineno)
            return ~value
        if not isinstance(value, int | float | Decimal | datetime.timedelta) or isinstance(value, bool):
            raise Refused("operand_not_allowed", "A sign applies to numbers only.", node.lineno)
        return -value if isinstance(node.op, ast.USub) else +value

    def _truth(self, value: Any, node: ast.AST) -> bool:
        if not isinstance(value, (*SCALARS, list, tuple, dict)):
            raise Refused("operand_not_allowed", "Only plain values have a truth value.", getattr(node, "lineno", 0))
        return bool(value)

    def _eval_BoolOp(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for item in node.values:
            value = self.eval(item)
            truth = self._truth(value, node)
            if (isinstance(node.op, ast.And) and not truth) or (isinstance(node.op, ast.Or) and truth):
                return value
        return value

    def _eval_Compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = self.eval(comparator)
            for side in (left, right):
                if not isinstance(side, (*SCALARS, list, tuple)):
                    raise Refused("operand_not_allowed", "Only plain values can be compared.", node.lineno)
            try:
                if not _COMPARE[type(op)](left, right):
                    return False
            except TypeError as exc:
                raise EvaluationError(f"line {node.lineno}: {exc}") from None
            left = right
        return True

    def _eval_IfExp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self._truth(self.eval(node.test), node) else self.eval(node.orelse)

    def _eval_Subscript(self, node: ast.Subscript) -> Any:
        value = self.eval(node.value)
        index = node.slice
        if isinstance(value, QuerySet):
            if isinstance(index, ast.Slice):
                lower = self.eval(index.lower) if index.lower else None
                upper = self.eval(index.upper) if index.upper else None
                if any(bound is not None and bound < 0 for bound in (lower, upper)):
                    raise Refused("subscript_not_allowed", "QuerySets take no negative slices.", node.lineno)
                return value[lower:upper]
            key = self.eval(index)
            if type(key) is not int or key < 0:
                raise Refused("subscript_not_allowed", "A QuerySet index is a non-negative integer.", node.lineno)
            try:
                return self.readable(value)[key]
            except IndexError:
                raise EvaluationError(f"line {node.lineno}: the query has no row {key}.") from None
        if not isinstance(value, dict | list | tuple | str):
            raise Refused("subscript_not_allowed", f"{type(value).__name__} cannot be indexed.", node.lineno)
        try:
            if isinstance(index, ast.Slice):
                lower = self.eval(index.lower) if index.lower else None
                upper = self.eval(index.upper) if index.upper else None
                return value[lower:upper]
            return value[self.eval(index)]
        except (KeyError, IndexError, TypeError) as exc:
            raise EvaluationError(f"line {node.lineno}: no item {exc}.") from None

    def _eval_Attribute(self, node: ast.Attribute) -> Any:
        value = self.eval(node.value)
        if node.attr == "objects":
            if not isinstance(value, ModelRef):
                raise Refused("chain_root", "'.objects' is only allowed on a model.", node.lineno)
            return QuerySet(model=value.model, using=self.alias)
        if isinstance(value, datetime.date) and node.attr in ("year", "month", "day"):
            return getattr(value, node.attr)
        if isinstance(value, datetime.datetime) and node.attr in ("hour", "minute", "second"):
            return getattr(value, node.attr)
        raise Refused("attribute_not_allowed", f"'.{node.attr}' is not allowed here.", node.lineno)

    def _eval_Call(self, node: ast.Call) -> Any:
        func = node.func
        args = [self.eval(arg) for arg in node.args]
        kwargs = {kw.arg: self.eval(kw.value) for kw in node.keywords if kw.arg is not None}
        if isinstance(func, ast.Name):
            return self._helper(func.id, args, kwargs, node)
        assert isinstance(func, ast.Attribute)
        receiver = self.eval(func.value)
        if isinstance(receiver, QuerySet):
            return self._queryset_call(receiver, func.attr, args, kwargs, node)
        return self._value_call(receiver, func.attr, args, kwargs, node)

    # --- Helpers ----------------------------------------------------------------------------------

    def _helper(self, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call) -> Any:
        line = node.lineno
        if name == "Q":
            if not all(isinstance(arg, Q) for arg in args):
                raise Refused("helper_arguments", "Q() takes Q objects and lookups.", line)
            return Q(*args, **kwargs)
        if name == "F":
            if len(args) != 1 or kwargs or not isinstance(args[0], str):
                raise Refused("helper_arguments", "F() takes one field name.", line)
            return F(args[0])
        if name in _AGGREGATES or name in _FUNCTIONS:
            if len(args) != 1 or not isinstance(args[0], str | F | BaseExpression) or isinstance(args[0], QuerySet):
                raise Refused("helper_arguments", f"{name}() takes one field name or expression.", line)
            allowed = AGGREGATE_KWARGS if name in _AGGREGATES else frozenset()
            if set(kwargs) - allowed:
                raise Refused("helper_arguments", f"{name}() takes only {sorted(allowed)}.", line)
            if "filter" in kwargs and not isinstance(kwargs["filter"], Q):
                raise Refused("helper_arguments", "filter= takes a Q().", line)
            if "distinct" in kwargs and not isinstance(kwargs["distinct"], bool):
                raise Refused("helper_arguments", "distinct= takes True or False.", line)
            if "default" in kwargs and not isinstance(kwargs["default"], int | float):
                raise Refused("helper_arguments", "default= takes a number.", line)
            factory = _AGGREGATES.get(name) or _FUNCTIONS[name]
            return factory(*args, **kwargs)
        if name in _PLAIN:
            return _PLAIN[name](*args, **kwargs)
        raise Refused("call_not_allowed", f"'{name}()' is not an allowed function.", line)

    def _value_call(self, receiver: Any, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call) -> Any:
        line = node.lineno
        if name in ("desc", "asc") and isinstance(receiver, F | BaseExpression):
            if args or set(kwargs) - {"nulls_first", "nulls_last"}:
                raise Refused("helper_arguments", f".{name}() takes nulls_first/nulls_last only.", line)
            return getattr(receiver, name)(**kwargs)
        if isinstance(receiver, datetime.datetime) and name == "date" and not args and not kwargs:
            return receiver.date()
        if isinstance(receiver, datetime.date) and name == "isoformat" and not args and not kwargs:
            return receiver.isoformat()
        if isinstance(receiver, datetime.date) and name == "replace" and not args:
            fields = {"year", "month", "day", "hour", "minute", "second", "microsecond"}
            if set(kwargs) - fields or not all(type(v) is int for v in kwargs.values()):
                raise Refused("helper_arguments", ".replace() takes integer date and time parts.", line)
            try:
                return receiver.replace(**kwargs)
            except (TypeError, ValueError) as exc:
                raise EvaluationError(f"line {line}: {exc}") from None
        raise Refused("method_not_allowed", f"'.{name}()' is not allowed on {type(receiver).__name__}.", line)

    # --- QuerySets --------------------------------------------------------------------------------

    def readable(self, qs: QuerySet[Any]) -> QuerySet[Any]:
        """`qs` narrowed to the manifest's readable columns (plus its annotations) when it yields models."""
        if not is_model_queryset(qs):
            return qs
        info = self.manifest.by_model(qs.model)
        if info is None:
            raise Refused("model_not_allowed", f"{qs.model.__name__} is not available.")
        return qs.values(*info.value_fields, *qs.query.annotations)

    def _queryset_call(
        self, qs: QuerySet[Any], name: str, args: list[Any], kwargs: dict[str, Any], node: ast.Call
    ) -> Any:
        line = node.lineno
        if name not in QUERYSET_METHODS:
            raise Refused("method_not_allowed", f"'.{name}()' is not a read-only QuerySet method.", line)
        model = qs.model
        annotations = set(qs.query.annotations)
        if name in ("filter", "exclude"):
            for arg in args:
                if not isinstance(arg, Q):
                    raise Refused("lookup_arguments", f".{name}() takes Q objects and lookups.", line)
                self.check_expression(model, arg, annotations, line)
            for key, value in kwargs.items():
                self.check_path(model, key, annotations, line)
                self.check_value(model, value, annotations, line)
        elif name in ("order_by", "distinct"):
            if kwargs:
                raise Refused("lookup_arguments", f".{name}() takes field names.", line)
            for arg in args:
                if isinstance(arg, str):
                    if arg != "?":
                        self.check_path(model, arg.removeprefix("-"), annotations, line, lookups=False)
                else:
                    self.check_expression(model, arg, annotations, line)
        elif name in ("values", "values_list"):
            for arg in args:
                if isinstance(arg, str):
                    self.check_path(model, arg, annotations, line)
                else:
                    raise Refused("lookup_arguments", f".{name}() takes field names.", line)
            if name == "values_list":
                if set(kwargs) - {"flat"} or not all(isinstance(v, bool) for v in kwargs.values()):
                    raise Refused("lookup_arguments", ".values_list() takes field names and flat=True.", line)
            else:
                for key, value in kwargs.items():
                    self._check_alias(key, line)
                    self.check_expression(model, value, annotations, line)
            if not args:
                info = self.manifest.by_model(model)
                if info is None:
                    raise Refused("model_not_allowed", f"{model.__name__} is not available.", line)
                args = [*info.value_fields, *annotations]  # never "every column"
        elif name in ("annotate", "aggregate"):
            for arg in args:
                if isinstance(arg, str | Q) or not isinstance(arg, BaseExpression):
                    raise Refused("lookup_arguments", f".{name}() takes expressions.", line)
                self.check_expression(model, arg, annotations, line)
            for key, value in kwargs.items():
                self._check_alias(key, line)
                if not isinstance(value, F | BaseExpression):
                    raise Refused("lookup_arguments", f".{name}() takes expressions.", line)
                self.check_expression(model, value, annotations, line)
        elif name in ("dates", "datetimes"):
            if len(args) < 2 or not all(isinstance(a, str) for a in args[:2]) or kwargs or len(args) > 3:
                raise Refused("lookup_arguments", f".{name}() takes a field name and a kind.", line)
            self.check_path(model, args[0], annotations, line, lookups=False)
            args = args[:2] + (["ASC" if args[2] != "DESC" else "DESC"] if len(args) == 3 else [])
        elif args or kwargs:
            raise Refused("lookup_arguments", f".{name}() takes no arguments.", line)
        if name in ("first", "last"):
            qs = self.readable(qs)
        method = getattr(QuerySet, name)
        try:
            return method(qs, *args, **kwargs)
        except (TypeError, ValueError) as exc:
            raise EvaluationError(f"line {line}: {exc}") from None

    def _check_alias(self, key: str, line: int) -> None:
        if key.startswith("_") or "__" in key:
            raise Refused("private_name", f"'{key}' is not a valid name.", line)

    # --- Lookups, hop by hop ----------------------------------------------------------------------

    def check_path(self, model: Any, path: str, annotations: set[str], line: int, *, lookups: bool = True) -> None:
        """Every hop of `path` must be a manifest field of the model it is on, or a lookup/transform."""
        hops = path.split("__")
        if hops[0] in annotations:
            rest = hops[1:]
        else:
            current, rest = model, []
            for position, hop in enumerate(hops):
                info = self.manifest.by_model(current)
                if info is None:
                    raise Refused("model_not_allowed", f"'{path}' reaches a model that is not available.", line)
                if hop == "pk":
                    hop = current._meta.pk.name
                field = info.fields.get(hop)
                if field is None and hop.endswith("_id") and hop[:-3] in info.fields:
                    field = info.fields[hop[:-3]]
                    rest = hops[position + 1 :]
                    break
                if field is None:
                    if position > 0 and hop in LOOKUPS:
                        rest = hops[position:]
                        break
                    if denylist.field_denied(current, hop):
                        raise Refused("denied_field", f"'{path}' reaches a field the assistant may not read.", line)
                    raise Refused("unknown_field", f"'{hop}' is not a field of {info.name} (in '{path}').", line)
                if field.related:
                    current = apps.get_model(field.related)
                    continue
                rest = hops[position + 1 :]
                break
        for hop in rest:
            if hop not in LOOKUPS or (not lookups and hop not in ("date", "year", "month", "day")):
                raise Refused("unknown_lookup", f"'{hop}' is not an allowed lookup (in '{path}').", line)

    def check_value(self, model: Any, value: Any, annotations: set[str], line: int) -> None:
        if isinstance(value, QuerySet):
            return  # built by this interpreter, its own lookups already checked
        if isinstance(value, list | tuple):
            for item in value:
                self.check_value(model, item, annotations, line)
            return
        if isinstance(value, Q | F | BaseExpression):
            self.check_expression(model, value, annotations, line)
            return
        if not isinstance(value, SCALARS):
            raise Refused("value_not_allowed", f"{type(value).__name__} is not a lookup value.", line)

    def check_expression(self, model: Any, expression: Any, annotations: set[str], line: int) -> None:
        if isinstance(expression, Q):
            children: list[Any] = list(expression.children)
            for child in children:
                if isinstance(child, Q):
                    self.check_expression(model, child, annotations, line)
                else:
                    key, value = child
                    self.check_path(model, key, annotations, line)
                    self.check_value(model, value, annotations, line)
        elif isinstance(expression, F):
            self.check_path(model, str(getattr(expression, "name", "")), annotations, line)
        elif isinstance(expression, QuerySet):
            return
        elif isinstance(expression, BaseExpression):
            for source in expression.get_source_expressions():
                if source is not None:
                    self.check_expression(model, source, annotations, line)
        elif not isinstance(expression, SCALARS):
            raise Refused("value_not_allowed", f"{type(expression).__name__} is not allowed here.", line)

"""The manifest: which models and fields the model may know about, and the code may touch.

Built from `apps.get_models()` at startup and again after every migration, held in process
memory. It holds every model and field the denylist allows; `for_user(user)` narrows it to
the models the asking staff user may view in the admin (view or change permission, and the
model registered in the admin). The validator, the interpreter, the serializer and the prompt
all read the same narrowed manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.contrib import admin
from django.db import models

from adminassistant import denylist


@dataclass(frozen=True)
class FieldInfo:
    name: str
    kind: str  # "uuid", "int", "str", "datetime", ... or "fk"/"m2m"/"reverse"
    related: str = ""  # the related model's label, for relations


@dataclass
class ModelInfo:
    name: str  # the name the code uses: the class name, prefixed by its app when ambiguous
    label: str  # "app_label.Model"
    model: Any
    fields: dict[str, FieldInfo] = field(default_factory=dict)

    @property
    def value_fields(self) -> list[str]:
        """The readable columns, as `values()` names them (a foreign key by its name: its id)."""
        return [f.name for f in self.fields.values() if f.kind not in ("m2m", "reverse")]


@dataclass
class Manifest:
    models: dict[str, ModelInfo]  # by code name

    def by_model(self, model: Any) -> ModelInfo | None:
        for info in self.models.values():
            if info.model is model:
                return info
        return None

    def text(self) -> str:
        """Compact: one line per model, `Name(app.Model): field:type, fk->Other, ...`."""
        lines = []
        for info in self.models.values():
            parts = []
            for f in info.fields.values():
                if f.related:
                    target = self._name_of(f.related)
                    parts.append(f"{f.name}{'->' if f.kind == 'fk' else '=>'}{target}")
                else:
                    parts.append(f"{f.name}:{f.kind}")
            lines.append(f"{info.name}({info.label}): {', '.join(parts)}")
        return "\n".join(lines)

    def _name_of(self, label: str) -> str:
        for info in self.models.values():
            if info.label == label:
                return info.name
        return label


_KINDS = {
    models.UUIDField: "uuid",
    models.BooleanField: "bool",
    models.DateTimeField: "datetime",
    models.DateField: "date",
    models.DurationField: "duration",
    models.DecimalField: "decimal",
    models.FloatField: "float",
    models.IntegerField: "int",
    models.JSONField: "json",
    models.FileField: "file",
    models.CharField: "str",
    models.TextField: "text",
}


def _kind(model_field: Any) -> str:
    for cls, kind in _KINDS.items():
        if isinstance(model_field, cls):
            return kind
    return "other"


def _field_info(model: Any, model_field: Any) -> FieldInfo | None:
    related_model = getattr(model_field, "related_model", None)
    if model_field.auto_created and not model_field.concrete:  # a reverse relation
        if related_model is None or denylist.model_denied(related_model):
            return None
        name = model_field.name  # its query name
        return FieldInfo(name=name, kind="reverse", related=related_model._meta.label)
    if denylist.field_denied(model, model_field.name):
        return None
    if model_field.is_relation and related_model is not None:
        if denylist.model_denied(related_model):
            return None
        kind = "m2m" if model_field.many_to_many else "fk"
        return FieldInfo(name=model_field.name, kind=kind, related=related_model._meta.label)
    if not model_field.concrete:
        return None
    return FieldInfo(name=model_field.name, kind=_kind(model_field))


def build() -> Manifest:
    """Every allowed model and field, whoever asks."""
    allowed = [m for m in apps.get_models() if not denylist.model_denied(m)]
    names: dict[str, int] = {}
    for model in allowed:
        names[model.__name__] = names.get(model.__name__, 0) + 1
    entries: dict[str, ModelInfo] = {}
    for model in allowed:
        meta = model._meta
        name = model.__name__
        if names[name] > 1:
            name = meta.app_label.title().replace("_", "") + name
        info = ModelInfo(name=name, label=meta.label, model=model)
        for model_field in meta.get_fields():
            described = _field_info(model, model_field)
            if described is not None and described.name not in info.fields:
                info.fields[described.name] = described
        entries[name] = info
    return Manifest(models=entries)


_manifest: Manifest | None = None


def rebuild() -> Manifest:
    global _manifest
    _manifest = build()
    return _manifest


def on_post_migrate(**kwargs: Any) -> None:
    rebuild()


def full() -> Manifest:
    return _manifest or rebuild()


def user_may_view(user: Any, model: Any) -> bool:
    if not (user.is_active and user.is_staff):
        return False
    if model not in admin.site._registry:
        return False
    meta = model._meta
    return bool(
        user.has_perm(f"{meta.app_label}.view_{meta.model_name}")
        or user.has_perm(f"{meta.app_label}.change_{meta.model_name}")
    )


def for_user(user: Any) -> Manifest:
    """The models this staff user may view in the admin; relations to other models are dropped."""
    visible = {name: info for name, info in full().models.items() if user_may_view(user, info.model)}
    labels = {info.label for info in visible.values()}
    narrowed = {}
    for name, info in visible.items():
        fields = {n: f for n, f in info.fields.items() if not f.related or f.related in labels}
        narrowed[name] = ModelInfo(name=info.name, label=info.label, model=info.model, fields=fields)
    return Manifest(models=narrowed)

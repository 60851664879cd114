"""The assistant's built-in tools over the user's own chat data (registered in `tools.registry`).

Every object is fetched through the owner-scoped selectors (`chat_get`, `project_get`,
`knowledge_get`): another user's id is "not found", exactly like an id that does not exist,
and nothing of it leaks into the result. Writes go through the same services as the REST API.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from backend.errors import NotFound
from chat.errors import ErrorCode
from chat.selectors import chats as selectors
from chat.selectors.usage import usage_for_user
from chat.services import chats as chat_services
from chat.services import projects as project_services
from chat.services.knowledge_index import project_collection
from retrieval.selectors import chunk_search
from tools.registry import Kind, Tool, ToolContext, register

ID = {"type": "string", "description": "An id (UUID) as returned by another tool."}


def _uuid(value: Any, code: ErrorCode) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        raise NotFound(f"{code.removesuffix('_not_found').capitalize()} not found.", code=code) from None


def _project_id(context: ToolContext, tool_input: dict[str, Any]) -> UUID:
    if tool_input.get("project_id"):
        return _uuid(tool_input["project_id"], ErrorCode.PROJECT_NOT_FOUND)
    if context.project_id is None:
        raise NotFound("This chat is in no project: give a project_id.", code=ErrorCode.PROJECT_NOT_FOUND)
    return _uuid(context.project_id, ErrorCode.PROJECT_NOT_FOUND)


def search_chats(context: ToolContext, tool_input: dict[str, Any]) -> dict[str, Any]:
    query = tool_input["query"]
    limit = int(tool_input.get("limit", 5))
    found = list(selectors.chat_search(user=context.user, query=query)[:limit])
    return {
        "chats": [
            {
                "chat_id": str(chat.id),
                "title": chat.title,
                "snippet": selectors.chat_search_snippet(chat=chat, query=query),
                "updated_at": chat.updated_at.isoformat(),
            }
            for chat in found
        ]
    }


def search_knowledge(context: ToolContext, tool_input: dict[str, Any]) -> dict[str, Any]:
    project = selectors.project_get(user=context.user, project_id=_project_id(context, tool_input))
    hits = chunk_search(
        collection=project_collection(project.id),
        owner_id=context.user.pk,
        query=tool_input["query"],
        k=int(tool_input.get("k", 5)),
    )
    return {
        "project_id": str(project.id),
        "chunks": [
            {"knowledge_id": hit.ref, "title": hit.title, "section": hit.heading, "text": hit.text, "score": hit.score}
            for hit in hits
        ],
    }


def list_projects(context: ToolContext, tool_input: dict[str, Any]) -> dict[str, Any]:
    projects = selectors.project_list(user=context.user)[:50]
    return {"projects": [{"project_id": str(p.id), "name": p.name, "description": p.description} for p in projects]}


def create_project(context: ToolContext, tool_input: dict[str, Any]) -> dict[str, Any]:
    project = project_services.project_create(
        user=context.user,
        name=tool_input["name"],
        description=tool_input.get("description", ""),
        instructions=tool_input.get("instructions", ""),
    )
    return {"project_id": str(project.id), "name": project.name, "created": True}


def add_knowledge(context: ToolContext, tool_input: dict[str, Any]) -> dict[str, Any]:
    project = selectors.project_get(user=context.user, project_id=_project_id(context, tool_input))
    knowledge = project_services.knowledge_create(
        user=context.user, project_id=project.id, title=tool_input["title"], content=tool_input["content"]
    )
    return {"knowledge_id": str(knowledge.id), "project_id": str(project.id), "title": knowledge.title, "added": True}


def show_usage(context: ToolContext, tool_input: dict[str, Any]) -> dict[str, Any]:
    report = usage_for_user(user=context.user, days=int(tool_input.get("days", 30)))
    totals = report.totals
    return {
        "days": int(tool_input.get("days", 30)),
        "calls": totals.calls,
        "input_tokens": totals.input_tokens,
        "output_tokens": totals.output_tokens,
        "cost_usd": str(totals.cost),
        "by_model": [{"model": m.model_id, "cost_usd": str(m.totals.cost)} for m in report.models[:10]],
    }


def archive_chat(context: ToolContext, tool_input: dict[str, Any]) -> dict[str, Any]:
    chat = selectors.chat_get(user=context.user, chat_id=_uuid(tool_input["chat_id"], ErrorCode.CHAT_NOT_FOUND))
    chat_services.chat_set_archived(chat=chat, archived=True)
    return {"chat_id": str(chat.id), "title": chat.title, "archived": True}


def delete_knowledge(context: ToolContext, tool_input: dict[str, Any]) -> dict[str, Any]:
    knowledge = selectors.knowledge_get(
        user=context.user, knowledge_id=_uuid(tool_input["knowledge_id"], ErrorCode.KNOWLEDGE_NOT_FOUND)
    )
    title = knowledge.title
    project_services.knowledge_delete(knowledge=knowledge)
    return {"knowledge_id": str(tool_input["knowledge_id"]), "title": title, "deleted": True}


def delete_knowledge_summary(context: ToolContext, tool_input: dict[str, Any]) -> str:
    knowledge = selectors.knowledge_get(
        user=context.user, knowledge_id=_uuid(tool_input["knowledge_id"], ErrorCode.KNOWLEDGE_NOT_FOUND)
    )
    return f'Delete the knowledge item "{knowledge.title}" from its project, for good.'


def _schema(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required, "additionalProperties": False}


QUERY = {"type": "string", "minLength": 1, "maxLength": 500}

register(
    Tool(
        name="search_my_chats",
        description="Search the user's own chats (titles and messages); returns ids, titles and matching snippets.",
        input_schema=_schema({"query": QUERY, "limit": {"type": "integer", "minimum": 1, "maximum": 20}}, ["query"]),
        kind=Kind.READ,
        run=search_chats,
    )
)
register(
    Tool(
        name="search_project_knowledge",
        description="Search a project's knowledge by meaning and keywords; defaults to this chat's project.",
        input_schema=_schema(
            {"query": QUERY, "project_id": ID, "k": {"type": "integer", "minimum": 1, "maximum": 20}}, ["query"]
        ),
        kind=Kind.READ,
        run=search_knowledge,
    )
)
register(
    Tool(
        name="list_projects",
        description="List the user's projects (ids, names, descriptions).",
        input_schema=_schema({}, []),
        kind=Kind.READ,
        run=list_projects,
    )
)
register(
    Tool(
        name="create_project",
        description="Create a project for the user.",
        input_schema=_schema(
            {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "description": {"type": "string", "maxLength": 5000},
                "instructions": {"type": "string", "maxLength": 20000},
            },
            ["name"],
        ),
        kind=Kind.WRITE,
        run=create_project,
    )
)
register(
    Tool(
        name="add_knowledge",
        description="Add a knowledge item (a titled text) to a project; defaults to this chat's project.",
        input_schema=_schema(
            {
                "title": {"type": "string", "minLength": 1, "maxLength": 200},
                "content": {"type": "string", "minLength": 1, "maxLength": 500000},
                "project_id": ID,
            },
            ["title", "content"],
        ),
        kind=Kind.WRITE,
        run=add_knowledge,
    )
)
register(
    Tool(
        name="show_my_usage",
        description="The user's model usage and cost over the last days.",
        input_schema=_schema({"days": {"type": "integer", "minimum": 1, "maximum": 365}}, []),
        kind=Kind.READ,
        run=show_usage,
    )
)
register(
    Tool(
        name="archive_chat",
        description="Archive one of the user's chats (it can be unarchived later).",
        input_schema=_schema({"chat_id": ID}, ["chat_id"]),
        kind=Kind.WRITE,
        run=archive_chat,
    )
)
register(
    Tool(
        name="delete_knowledge",
        description="Delete a knowledge item from a project. Destructive: the user is asked to confirm.",
        input_schema=_schema({"knowledge_id": ID}, ["knowledge_id"]),
        kind=Kind.DESTRUCTIVE,
        run=delete_knowledge,
        summary=delete_knowledge_summary,
    )
)

"""The "start a prototype" tool: prepares a design project; generating a page stays a streamed request.

Generating a prototype is itself a long streamed answer with its own engine, stop and resume;
running it inside a chat answer's tool loop would nest two generations in one. The tool
therefore creates (or reuses) the design project and reports the request that starts the
generation (`POST /api/v1/prototypes/generate/`), which the client makes with the user.
"""

from __future__ import annotations

from typing import Any

from prototypes import selectors
from prototypes.services import crud
from tools.registry import Kind, Tool, ToolContext, register


def start_prototype(context: ToolContext, tool_input: dict[str, Any]) -> dict[str, Any]:
    name = tool_input["name"]
    # The user's design project of that name, or a new one: calling twice does not make two.
    project = selectors.project_list(user=context.user).filter(name=name).first()
    if project is None:
        project = crud.project_create(user=context.user, name=name, description=tool_input["idea"][:2000])
    return {
        "design_project_id": str(project.id),
        "name": project.name,
        "generation": "not started",
        "next_step": "Generation is started by the user from the prototypes API: POST /api/v1/prototypes/generate/ "
        'with {"design_project_id": "' + str(project.id) + '", "prompt": <the idea>}.',
    }


register(
    Tool(
        name="start_prototype",
        description="Prepare a UI prototype: creates a design project for the idea. The page itself is generated "
        "when the user starts it from the prototypes page; say so in your answer.",
        input_schema={
            "type": "object",
            "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "idea": {"type": "string", "minLength": 1, "maxLength": 20000},
            },
            "required": ["name", "idea"],
            "additionalProperties": False,
        },
        kind=Kind.WRITE,
        run=start_prototype,
    )
)

"""A clinic's programme templates: reusable phases and items, checked like a programme's."""

import uuid
from typing import Any

from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from app.db import utcnow
from app.errors import NotFound
from app.models.common import Actor, Page
from app.models.programme import Template, TemplatePublic
from app.models.programme_document import TemplateCreate
from app.services import programme_documents as documents
from app.services.pagination import PageParams, paginate


def _templates(actor: Actor) -> SelectOfScalar[Template]:
    return select(Template).where(Template.clinic_id == actor.clinic_id)


def template_public(template: Template) -> TemplatePublic:
    return TemplatePublic.model_validate(template, from_attributes=True)


def list_templates(session: Session, actor: Actor, params: PageParams) -> Page[TemplatePublic]:
    page = paginate(session, _templates(actor), Template.id, params)
    return page.mapped(lambda rows: [template_public(t) for t in rows])


def get_template(session: Session, actor: Actor, template_id: uuid.UUID) -> Template:
    template = session.exec(_templates(actor).where(Template.id == template_id)).first()
    if template is None:
        raise NotFound("No such template in this clinic.")
    return template


def _template_phases(session: Session, actor: Actor, data: TemplateCreate) -> list[dict[str, Any]]:
    # Templates hold no item ids: items get theirs when a programme is made from the template.
    documents.resolve_items(session, actor, data.phases, existing={})
    return [phase.model_dump(mode="json", exclude={"items": {"__all__": {"id"}}}) for phase in data.phases]


def create_template(session: Session, actor: Actor, data: TemplateCreate) -> Template:
    template = Template(
        clinic_id=actor.clinic_id,
        name=data.name,
        description=data.description,
        phases=_template_phases(session, actor, data),
        created_by=actor.id,
    )
    session.add(template)
    session.flush()
    return template


def replace_template(session: Session, actor: Actor, template: Template, data: TemplateCreate) -> Template:
    template.name, template.description = data.name, data.description
    template.phases = _template_phases(session, actor, data)
    template.updated_at = utcnow()
    session.add(template)
    session.flush()
    return template


def delete_template(session: Session, template: Template) -> None:
    session.delete(template)  # programmes made from it keep their copy; their template_id is set null
    session.flush()

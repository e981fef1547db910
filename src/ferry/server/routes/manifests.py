"""What uploaded manifests declare, before a task is made of them: the upload form asks
as soon as files are chosen, to offer the groups and extras by name and to name a broken
file (and line) at once. Nothing is kept: the files live in a temporary directory for
the length of the request."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import File, UploadFile

from ferry.manifests.model import InputRules
from ferry.server.deps import Manager, Writer, router
from ferry.server.problems import errors
from ferry.server.schemas import DeclaredDocument, DeclaredGroup, TaskError
from ferry.services.declared import declared_groups
from ferry.tasks.manager import error_document
from ferry.tasks.uploads import Upload, store, validate

manifests = router(prefix="/api/manifests", tags=["manifests"], responses=errors(401, 403))


@manifests.post("/declared", responses=errors(400, 413, 415, 422))
async def declared(
    m: Manager,
    who: Writer,
    files: Annotated[list[UploadFile], File(description="The manifests, as for a task.")],
) -> DeclaredDocument:
    """The groups and extras the files declare, and the files that cannot be read.
    Checked as a task's uploads are (names, sizes, text); includes stay inside them."""
    del who  # a writer's question: only someone who may create the task asks it
    uploads = []
    for upload in files:
        # read one byte past the limit: enough to refuse, never the whole of a huge body
        data = await upload.read(m.settings.upload_max_bytes + 1)
        uploads.append(Upload(upload.filename or "", data))
    validate(uploads, m.settings.upload_max_bytes)
    with tempfile.TemporaryDirectory(prefix="ferry-declared-") as tmp:
        where = Path(tmp)
        paths = store(where, uploads)
        found = await asyncio.to_thread(declared_groups, paths, InputRules(confined_to=where))
        problems = [TaskError.model_validate(error_document(e, where)) for e in found.errors]
    return DeclaredDocument(
        groups=[
            DeclaredGroup(name=g.name, ecosystem=g.ecosystem, files=g.files) for g in found.groups
        ],
        errors=problems,
    )

"""The candidate's pages, one module per area: accounts (/compte/...), space (/espace),
enrolment (« M'inscrire », « Mes documents », address change), uploads (« Mes justificatifs »),
dev (the development outbox).

Thin handlers: parse the form, call the use case (``services(request).accounts`` or
``.enrolment``), render or redirect; every refusal (an ``errors.AppError``) is shown on the page
the candidate was on, with what they typed kept. Routes are declared in ``web/routes.py``::

    account = await require_account(request)             # web.auth
    svc = services(request)                              # web.services
    values = await form_values(request)                  # web.forms (CSRF already checked)
    return await render(request, "candidate/enrolment/enrol.html", {...}, status=400)
"""

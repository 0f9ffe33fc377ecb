"""Thin request handlers, one module per area: accounts (/compte/...), space (/espace), dev.

To add an area (e.g. enrolment): write ``views/enrolment.py`` with ``async def view(request)``
functions, then add its ``Route``s to ``routes()`` in app.py. Inside a view::

    account = await require_account(request)             # formservice.web.sessions
    svc = services(request)                              # formservice.web.services
    values = await form_values(request)                  # formservice.web.forms (CSRF already checked)
    return await render(request, "enrolment/form.html", {...}, status=400)   # formservice.web.rendering
"""

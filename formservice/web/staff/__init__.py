"""The exam office's pages, under /gestion/: access (login in two steps, invitation), dossiers
(home, list, dossier, pieces, decisions). Separate session cookie; a pôle's staff sees only the
dossiers of the exams that pôle handles (404 on any other)."""

"""`formservice check | publish | serve | demo | purge | staff | mail status | store check | store compact`.

Each subcommand is a thin shell over a module that does the work, so the same code runs from
tests, from `make` and from an editor's terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from formservice.settings import data_dir_from, notice_path_from, store_dir_of


def _shared_store_url() -> str:
    """FORMSERVICE_STORE when it names a PostgreSQL database (the commands then read it), else ""."""
    url = os.environ.get("FORMSERVICE_STORE", "").strip()
    return url if url.startswith(("postgresql://", "postgres://")) else ""


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"« {text} » : un nombre entier d'au moins 1")
    return int(text)


def _notice_path(args: argparse.Namespace) -> Path:
    return Path(args.notice) if args.notice else notice_path_from()


def cmd_check(args: argparse.Namespace) -> int:
    from formservice.notice import NoticeError, load_notice

    path = _notice_path(args)
    try:
        load_notice(path)
    except NoticeError as exc:
        print(exc.report(), file=sys.stderr)
        print(f"\n{len(exc.problems)} problème(s) dans {path} : rien n'a été publié.", file=sys.stderr)
        return 1
    print(f"{path} : aucun problème.")
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from formservice.notice.site.publish import PublishError, publish

    try:
        publish(_notice_path(args), Path(args.site_dir))
    except PublishError as exc:
        print(str(exc), file=sys.stderr)
        print("\nLa publication a échoué : le site en ligne n'a pas changé.", file=sys.stderr)
        return 1
    print(f"Site publié dans {args.site_dir}/")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from formservice.server import serve

    return serve(host=args.host, port=args.port, demo=False, workers=args.workers)


def cmd_demo(args: argparse.Namespace) -> int:
    from formservice.server import serve

    return serve(host=args.host, port=args.port, demo=True, workers=args.workers)


def cmd_purge(args: argparse.Namespace) -> int:
    from formservice.server import purge

    return purge(dry_run=args.dry_run)


def cmd_store(args: argparse.Namespace) -> int:
    from formservice.store.tinydb.maintenance import check, compact

    data_dir = Path(args.data_dir) if args.data_dir else data_dir_from()
    store_dir = store_dir_of(data_dir)
    if args.action == "copy":
        from formservice.server import store_copy

        if not args.source or not args.target:
            print(
                "formservice store copy --from URL --to URL (tinydb:CHEMIN ou postgresql://…)",
                file=sys.stderr,
            )
            return 2
        return store_copy(args.source, args.target, data_dir / "uploads")
    shared = _shared_store_url()
    if shared and args.action == "check":
        from formservice.server import shared_store_check

        return shared_store_check(shared, data_dir / "uploads")
    if args.action == "compact":
        if shared:
            print("Le stockage PostgreSQL se compacte lui-même (autovacuum) : rien à faire.")
            return 0
        return compact(store_dir)
    status = check(store_dir)
    return max(status, _check_files(store_dir, data_dir / "uploads")) if status != 2 else status


def _check_files(store_dir: Path, uploads_dir: Path) -> int:
    """The candidates' files against the records: each record's file is there, no file is left
    without a record (reported only; the service removes such files at its next start)."""
    from typing import cast

    from formservice.enrolment.reconcile import file_report
    from formservice.store.records import Enrolment
    from formservice.store.tinydb.maintenance import read_table

    enrolments = read_table(store_dir, "enrolments")
    if enrolments is None:
        return 1
    missing, orphans = file_report(cast(list[Enrolment], enrolments), uploads_dir)
    for enrolment_id, file_id in missing:
        print(
            f"Justificatifs, problème : l'inscription {enrolment_id} référence le fichier {file_id}, "
            "absent du disque"
        )
    if orphans:
        print(
            f"Justificatifs : {len(orphans)} fichier(s) sans inscription dans {uploads_dir} : ils seront "
            "supprimés au prochain démarrage du service (suppression confirmée avant un arrêt brutal)."
        )
    if not missing:
        print(f"Justificatifs : chaque fichier référencé est présent ({uploads_dir}).")
    return 1 if missing else 0


def cmd_staff(args: argparse.Namespace) -> int:
    from formservice.server import staff

    return staff(
        args.action, getattr(args, "email", None), getattr(args, "role", None), getattr(args, "pole", None)
    )


def cmd_mail(args: argparse.Namespace) -> int:
    """``formservice mail status``: the mails not delivered yet, and those given up."""
    from formservice.store.tinydb.maintenance import read_table

    store_dir = store_dir_of(Path(args.data_dir) if args.data_dir else data_dir_from())
    shared = _shared_store_url()
    if shared:
        from formservice.server import read_shared_table

        mails = read_shared_table(shared, "outbox")
    else:
        mails = read_table(store_dir, "outbox")
    if mails is None:
        return 1
    pending = sorted((m for m in mails if m.get("state") == "pending"), key=lambda m: m["created_at"])
    failed = sorted((m for m in mails if m.get("state") == "failed"), key=lambda m: m["created_at"])
    print(f"{len(pending)} courriel(s) en attente d'envoi, {len(failed)} en échec définitif.")
    for title, group in (("En attente", pending), ("En échec", failed)):
        for mail in group:
            error = f" — {mail['last_error']}" if mail.get("last_error") else ""
            print(
                f"  {title} : « {mail['subject']} » à {mail['to']}, créé le {mail['created_at']}, "
                f"{mail['attempts']} essai(s){error}"
            )
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="formservice", description="Note aux candidats et inscriptions.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("check", help="vérifier notice.yml sans rien publier")
    p.add_argument("--notice", help="chemin de notice.yml (défaut : $FORMSERVICE_NOTICE ou ./notice.yml)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("publish", help="vérifier notice.yml puis publier le site dans site/")
    p.add_argument("--notice")
    p.add_argument("--site-dir", default="site")
    p.set_defaults(func=cmd_publish)

    for name, func, text in (
        ("serve", cmd_serve, "servir le site et les formulaires"),
        ("demo", cmd_demo, "démonstration : fenêtre d'inscription ouverte autour d'aujourd'hui"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument(
            "--workers",
            type=_positive,
            default=1,
            help="processus de service (plusieurs : stockage PostgreSQL seulement ; défaut : 1)",
        )
        p.set_defaults(func=func)

    p = sub.add_parser("purge", help="supprimer les comptes non activés dans le délai")
    p.add_argument("--dry-run", action="store_true", help="lister sans supprimer")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("staff", help="membres de la gestion : inviter, lister, désactiver")
    staff_sub = p.add_subparsers(dest="action", required=True)
    q = staff_sub.add_parser("invite", help="inviter (un lien valable 72 h est envoyé par courriel)")
    q.add_argument("email")
    q.add_argument("--role", required=True, choices=["gestionnaire", "administrateur"])
    q.add_argument("--pole", action="append", default=[], help="identifiant de pôle (répétable)")
    staff_sub.add_parser("list", help="lister les membres et leur état")
    q = staff_sub.add_parser("disable", help="désactiver un membre (ses sessions sont fermées)")
    q.add_argument("email")
    p.set_defaults(func=cmd_staff)

    p = sub.add_parser("mail", help="courriels en attente ou en échec")
    p.add_argument("action", choices=["status"])
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_mail)

    p = sub.add_parser("store", help="vérifier, compacter ou copier les données")
    p.add_argument("action", choices=["check", "compact", "copy"])
    p.add_argument("--data-dir")
    p.add_argument("--from", dest="source", help="copy : stockage source (tinydb:CHEMIN, postgresql://…)")
    p.add_argument("--to", dest="target", help="copy : stockage de destination, vide")
    p.set_defaults(func=cmd_store)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

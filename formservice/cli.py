"""`formservice check | publish | serve | demo | purge | staff | mail status | store check | store compact |
deploy nginx`.

Each subcommand is a thin shell over a module that does the work, so the same code runs from
tests, from `make` and from an editor's terminal.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from formservice.settings import data_dir_from, notice_path_from, store_dir_of


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

    return serve(host=args.host, port=args.port, demo=False)


def cmd_demo(args: argparse.Namespace) -> int:
    from formservice.server import serve

    return serve(host=args.host, port=args.port, demo=True)


def cmd_purge(args: argparse.Namespace) -> int:
    from formservice.server import purge

    return purge(dry_run=args.dry_run)


def cmd_store(args: argparse.Namespace) -> int:
    from formservice.store.tinydb.maintenance import check, compact

    data_dir = Path(args.data_dir) if args.data_dir else data_dir_from()
    store_dir = store_dir_of(data_dir)
    if args.action == "compact":
        return compact(store_dir)
    status = check(store_dir)
    return max(status, _check_files(store_dir, data_dir)) if status != 2 else status


def _check_files(store_dir: Path, data_dir: Path) -> int:
    """The candidates' files against the records: each record's file is there, no file is left
    without a record (reported only; the service removes such files at its next start)."""
    from typing import cast

    from formservice.enrolment.reconcile import file_report
    from formservice.files import FilesUnavailable
    from formservice.files.factory import open_files
    from formservice.settings import SettingsError, files_config_from
    from formservice.store.records import Enrolment
    from formservice.store.tinydb.maintenance import read_table

    enrolments = read_table(store_dir, "enrolments")
    if enrolments is None:
        return 1
    try:
        files = open_files(files_config_from(), root=data_dir / "uploads", scratch=data_dir / "tmp")
    except SettingsError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return 2
    try:
        missing, orphans = file_report(cast(list[Enrolment], enrolments), files)
    except FilesUnavailable as exc:
        print(f"Justificatifs : {files.describe()} ne répond pas ({exc}).", file=sys.stderr)
        return 1
    finally:
        files.close()
    for enrolment_id, file_id in missing:
        print(
            f"Justificatifs, problème : l'inscription {enrolment_id} référence le fichier {file_id}, "
            "absent du stockage"
        )
    if orphans:
        print(
            f"Justificatifs : {len(orphans)} fichier(s) sans inscription dans {files.describe()} : ils "
            "seront supprimés au prochain démarrage du service (suppression confirmée avant un arrêt brutal)."
        )
    if not missing:
        print(f"Justificatifs : chaque fichier référencé est présent ({files.describe()}).")
    return 1 if missing else 0


def cmd_staff(args: argparse.Namespace) -> int:
    from formservice.server import staff

    return staff(
        args.action, getattr(args, "email", None), getattr(args, "role", None), getattr(args, "pole", None)
    )


def cmd_mail(args: argparse.Namespace) -> int:
    """``formservice mail status``: the mails not delivered yet, and those given up;
    ``formservice mail deliver``: the delivery worker alone (``server.deliver_mail``)."""
    if args.action == "deliver":
        from formservice.server import deliver_mail

        return deliver_mail()
    from formservice.store.tinydb.maintenance import read_table

    store_dir = store_dir_of(Path(args.data_dir) if args.data_dir else data_dir_from())
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


def cmd_deploy(args: argparse.Namespace) -> int:
    """``formservice deploy nginx``: the reverse proxy's configuration, from notice.yml's limits,
    the published site and the service's own headers (see ``web/deploy.py``)."""
    import os
    from urllib.parse import urlsplit

    from formservice.notice import NoticeError, load_notice
    from formservice.web.deploy import NginxSite, nginx_config

    notice_path = _notice_path(args)
    try:
        notice = load_notice(notice_path)
    except NoticeError as exc:
        print(exc.report(), file=sys.stderr)
        return 1
    name = args.server_name or urlsplit(os.environ.get("FORMSERVICE_BASE_URL", "")).hostname
    if not name:
        print("Indiquez le nom du site : --server-name ou FORMSERVICE_BASE_URL.", file=sys.stderr)
        return 2
    site_dir = Path(args.site_dir or os.environ.get("FORMSERVICE_SITE_DIR", "site")).resolve()
    if not (site_dir / "index.html").is_file():
        print(
            f"Attention : {site_dir} ne contient pas de site publié (formservice publish).", file=sys.stderr
        )
    letsencrypt = Path("/etc/letsencrypt/live") / name
    site = NginxSite(
        server_name=name,
        site_dir=site_dir,
        certificate=Path(args.certificate or letsencrypt / "fullchain.pem"),
        certificate_key=Path(args.certificate_key or letsencrypt / "privkey.pem"),
        upstreams=tuple(args.upstream or ["127.0.0.1:8000"]),
        listen=args.listen,
        http_listen=None if args.http_listen == "non" else args.http_listen,
        trusted=os.environ.get("FORMSERVICE_TRUSTED_PROXIES", "127.0.0.1"),
    )
    text = nginx_config(site, notice, notice_path)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"Configuration nginx écrite dans {args.output} : vérifiez-la avec « nginx -t ».")
    else:
        sys.stdout.write(text)
    return 0


def _add_deploy(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("deploy", help="configuration de production : nginx en frontal")
    p.add_argument("what", choices=["nginx"])
    p.add_argument("--notice")
    p.add_argument("--server-name", help="nom du site (défaut : celui de FORMSERVICE_BASE_URL)")
    p.add_argument("--site-dir", help="site publié (défaut : $FORMSERVICE_SITE_DIR ou ./site)")
    p.add_argument("--certificate", help="défaut : /etc/letsencrypt/live/NOM/fullchain.pem")
    p.add_argument("--certificate-key", help="défaut : /etc/letsencrypt/live/NOM/privkey.pem")
    p.add_argument("--upstream", action="append", help="hôte:port d'un service (répétable ; 127.0.0.1:8000)")
    p.add_argument("--listen", default="443", help="adresse d'écoute https (443)")
    p.add_argument(
        "--http-listen", default="80", help="écoute http qui redirige vers https (« non » : aucune)"
    )
    p.add_argument("--output", help="fichier à écrire (défaut : la sortie standard)")
    p.set_defaults(func=cmd_deploy)


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

    p = sub.add_parser("mail", help="courriels : en attente ou en échec (status), livraison seule (deliver)")
    p.add_argument("action", choices=["status", "deliver"])
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_mail)

    p = sub.add_parser("store", help="vérifier ou compacter le dossier de données")
    p.add_argument("action", choices=["check", "compact"])
    p.add_argument("--data-dir")
    p.set_defaults(func=cmd_store)
    _add_deploy(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

"""`formservice check | publish | serve | demo | purge | staff | export | reminders | retention |
mail status | mail deliver | store check | store compact | deploy nginx`.

Each subcommand is a thin shell over a module that does the work, so the same code runs from
tests, from `make` and from an editor's terminal.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from formservice.settings import data_dir_from, notice_path_from, site_dir_from, store_dir_of
from formservice.typography import plural

if TYPE_CHECKING:
    from formservice.notice import Notice


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
    """Problems fail the check; warnings (advice) and the site's state are said, never fail it."""
    from formservice.notice import NoticeError, load_notice

    path = _notice_path(args)
    try:
        notice = load_notice(path)
    except NoticeError as exc:
        print(exc.report(), file=sys.stderr)
        print(f"\n{exc.summary(path)} : rien n'a été publié.", file=sys.stderr)
        return 1
    print(f"{path} : aucun problème.")
    _print_advice(path, notice, _enrolled(Path(args.data_dir) if args.data_dir else data_dir_from(), notice))
    _print_site_state(path, notice, Path(args.site_dir) if args.site_dir else site_dir_from())
    return 0


def _print_advice(path: Path, notice: Notice, enrolled: dict[str, int] | None) -> None:
    from formservice.notice.advice import located, notice_advice

    findings = notice_advice(notice, enrolled)
    if findings:
        print(f"\n{plural(len(findings), 'avertissement')} (la notice reste valide) :")
        for line in located(path.name, path.read_text(encoding="utf-8"), findings):
            print(f"  {line}")


def _enrolled(data_dir: Path, notice: Notice) -> dict[str, int] | None:
    """Candidates of the notice's session by speciality, read from the store (the service may be
    running: the files are read without the lock, as ``store check`` does); None if there is none."""
    from collections import Counter

    from formservice.store.tinydb.lockfile import holder_pid, is_locked
    from formservice.store.tinydb.maintenance import read_table

    store_dir = store_dir_of(data_dir)
    if not store_dir.is_dir():
        print(f"Inscriptions : pas de dossier de données dans {data_dir} : aucune à comparer à la notice.")
        return None
    if is_locked(store_dir):
        print(
            f"Inscriptions : le service est en marche (processus {holder_pid(store_dir) or '?'}) et tient "
            f"le dossier de données {data_dir} : elles sont lues sans le verrou, telles qu'enregistrées "
            "à l'instant."
        )
    enrolments = read_table(store_dir, "enrolments")
    if enrolments is None:
        return None
    return dict(
        Counter(
            str(doc.get("data", {}).get("speciality", ""))
            for doc in enrolments
            if doc.get("session") == notice.session.name and doc.get("version", 0) >= 1
        )
    )


def _print_site_state(path: Path, notice: Notice, site_dir: Path) -> None:
    from formservice.notice.site.stamp import NoticeVersion, read_stamp, site_status

    status = site_status(
        read_stamp(site_dir),
        NoticeVersion.of_file(path),
        notice.tz,
        subject="cette notice",
        todo="lancez formservice publish (un service en marche sur cette notice le fait de lui-même)",
    )
    print(f"\nSite ({site_dir}) : {status.message}")


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
        return store_copy(args.source, args.target, data_dir)
    shared = _shared_store_url()
    if shared and args.action == "check":
        from formservice.server import shared_store_check

        return shared_store_check(shared, data_dir)
    if args.action == "compact":
        if shared:
            print("Le stockage PostgreSQL se compacte lui-même (autovacuum) : rien à faire.")
            return 0
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
            f"Justificatifs : {plural(len(orphans), 'fichier')} sans inscription dans {files.describe()} : "
            "ils seront supprimés au prochain démarrage du service (suppression confirmée avant un arrêt "
            "brutal)."
        )
    if not missing:
        print(f"Justificatifs : chaque fichier référencé est présent ({files.describe()}).")
    return 1 if missing else 0


def cmd_staff(args: argparse.Namespace) -> int:
    from formservice.server import staff

    return staff(
        args.action, getattr(args, "email", None), getattr(args, "role", None), getattr(args, "pole", None)
    )


def cmd_export(args: argparse.Namespace) -> int:
    from formservice.server import export

    return export(args.format, args.output, args.pole, args.state)


def cmd_reminders(args: argparse.Namespace) -> int:
    from formservice.server import reminders

    return reminders(dry_run=args.dry_run)


def cmd_retention(args: argparse.Namespace) -> int:
    from formservice.server import retention

    return retention(dry_run=args.dry_run)


def cmd_mail(args: argparse.Namespace) -> int:
    """``formservice mail status``: the mails not delivered yet, and those given up;
    ``formservice mail deliver``: the delivery worker alone (``server.deliver_mail``)."""
    if args.action == "deliver":
        from formservice.server import deliver_mail

        return deliver_mail()
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
    print(f"{plural(len(pending), 'courriel')} en attente d'envoi, {len(failed)} en échec définitif.")
    for title, group in (("En attente", pending), ("En échec", failed)):
        for mail in group:
            error = f" — {mail['last_error']}" if mail.get("last_error") else ""
            print(
                f"  {title} : « {mail['subject']} » à {mail['to']}, créé le {mail['created_at']}, "
                f"{plural(mail['attempts'], 'essai')}{error}"
            )
    return 1 if failed else 0


# argparse's own words (usage, errors, the -h help), in French. argparse looks its messages up
# through its module's ``_`` at the moment it needs them: ``_french_argparse`` swaps it in for the
# time of building the parser and reading the command line.
ARGPARSE_FR = {
    "usage: ": "utilisation : ",
    "positional arguments": "arguments",
    "options": "options",
    "show this help message and exit": "afficher cette aide et quitter",
    "argument %(argument_name)s: %(message)s": "argument %(argument_name)s : %(message)s",
    "the following arguments are required: %s": "arguments obligatoires manquants : %s",
    "invalid choice: %(value)r (choose from %(choices)s)": (
        "choix invalide : %(value)r (possibles : %(choices)s)"
    ),
    "invalid %(type)s value: %(value)r": "valeur invalide : %(value)r",
    "unrecognized arguments: %s": "arguments inconnus : %s",
    "expected one argument": "une valeur est attendue",
    "expected at most one argument": "une valeur au plus est attendue",
    "expected at least one argument": "une valeur au moins est attendue",
    "ambiguous option: %(option)s could match %(matches)s": (
        "option ambiguë : %(option)s peut être %(matches)s"
    ),
    "not allowed with argument %s": "impossible avec l'argument %s",
    "one of the arguments %s is required": "l'un des arguments %s est obligatoire",
    "ignored explicit argument %r": "valeur %r ignorée",
    "unexpected option string: %s": "option inattendue : %s",
    "%(prog)s: error: %(message)s\n": "%(prog)s : erreur : %(message)s\n",
}


@contextlib.contextmanager
def _french_argparse() -> Iterator[None]:
    module = vars(argparse)
    saved = module["_"]
    module["_"] = lambda text: ARGPARSE_FR.get(text, text)
    try:
        yield
    finally:
        module["_"] = saved


def _add_data_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data-dir", metavar="DOSSIER", help="dossier de données (défaut : $FORMSERVICE_DATA_DIR ou ./var)"
    )


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
    sub = parser.add_subparsers(dest="command", required=True, title="commandes", metavar="COMMANDE")
    notice_help = "chemin de notice.yml (défaut : $FORMSERVICE_NOTICE ou ./notice.yml)"
    site_help = "dossier du site publié (défaut : $FORMSERVICE_SITE_DIR ou ./site)"

    p = sub.add_parser("check", help="vérifier notice.yml sans rien publier")
    p.add_argument("--notice", metavar="CHEMIN", help=notice_help)
    p.add_argument("--site-dir", metavar="DOSSIER", help=site_help + " : montre-t-il cette notice ?")
    _add_data_dir(p)
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("publish", help="vérifier notice.yml puis publier le site dans site/")
    p.add_argument("--notice", metavar="CHEMIN", help=notice_help)
    p.add_argument(
        "--site-dir", metavar="DOSSIER", default="site", help="dossier du site à publier (défaut : ./site)"
    )
    p.set_defaults(func=cmd_publish)

    for name, func, text in (
        ("serve", cmd_serve, "servir le site et les formulaires"),
        ("demo", cmd_demo, "démonstration : fenêtre d'inscription ouverte autour d'aujourd'hui"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument(
            "--host", metavar="ADRESSE", default="127.0.0.1", help="adresse d'écoute (défaut : 127.0.0.1)"
        )
        p.add_argument("--port", type=int, default=8000, help="port d'écoute (défaut : 8000)")
        p.add_argument(
            "--workers",
            type=_positive,
            default=1,
            metavar="N",
            help="processus de service (plusieurs : stockage PostgreSQL seulement ; défaut : 1)",
        )
        p.set_defaults(func=func)

    p = sub.add_parser("purge", help="supprimer les comptes non activés dans le délai")
    p.add_argument("--dry-run", action="store_true", help="lister sans supprimer")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("staff", help="membres de la gestion : inviter, lister, désactiver")
    staff_sub = p.add_subparsers(dest="action", required=True, title="actions", metavar="ACTION")
    q = staff_sub.add_parser("invite", help="inviter (un lien valable 72 h est envoyé par courriel)")
    q.add_argument("email", metavar="ADRESSE", help="adresse électronique du membre")
    q.add_argument("--role", required=True, choices=["gestionnaire", "administrateur"], help="rôle du membre")
    q.add_argument(
        "--pole", metavar="PÔLE", action="append", default=[], help="identifiant de pôle (répétable)"
    )
    staff_sub.add_parser("list", help="lister les membres et leur état")
    q = staff_sub.add_parser("disable", help="désactiver un membre (ses sessions sont fermées)")
    q.add_argument("email", metavar="ADRESSE", help="adresse électronique du membre")
    p.set_defaults(func=cmd_staff)

    p = sub.add_parser("export", help="exporter les dossiers (CSV, XLSX) ou leurs pièces (ZIP)")
    p.add_argument("--format", required=True, choices=["csv", "xlsx", "zip"])
    p.add_argument("--pole", help="identifiant du pôle (défaut : tous les pôles)")
    p.add_argument("--state", help="état des dossiers (brouillon, depose, en_verification…)")
    p.add_argument("--output", required=True, help="fichier à écrire")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("reminders", help="envoyer les relances dues (une fois par candidat et occasion)")
    p.add_argument("--dry-run", action="store_true", help="lister qui recevrait quoi, sans rien envoyer")
    p.set_defaults(func=cmd_reminders)

    p = sub.add_parser("retention", help="supprimer les données dont la durée de conservation est passée")
    p.add_argument("--dry-run", action="store_true", help="lister sans rien supprimer ni envoyer")
    p.set_defaults(func=cmd_retention)

    p = sub.add_parser("mail", help="courriels : en attente ou en échec (status), livraison seule (deliver)")
    p.add_argument(
        "action", choices=["status", "deliver"], help="status : état de la file ; deliver : livrer seulement"
    )
    _add_data_dir(p)
    p.set_defaults(func=cmd_mail)

    p = sub.add_parser("store", help="vérifier, compacter ou copier les données")
    p.add_argument(
        "action",
        choices=["check", "compact", "copy"],
        help="check : vérifier (sans rien modifier) ; compact : compacter ; copy : copier ailleurs",
    )
    _add_data_dir(p)
    p.add_argument("--from", dest="source", help="copy : stockage source (tinydb:CHEMIN, postgresql://…)")
    p.add_argument("--to", dest="target", help="copy : stockage de destination, vide")
    p.set_defaults(func=cmd_store)
    _add_deploy(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    with _french_argparse():
        args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())

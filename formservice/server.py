"""``formservice serve | demo | purge``: settings from the environment, then one uvicorn process.

One process only: the embedded store holds a lock on the data directory, and the rate limits
live in memory. ``demo`` serves a copy of notice.yml (in the data directory) whose dates are all moved so that
registration opened a week ago, so the whole journey can be walked; notice.yml itself is never
edited.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
import anyio.to_thread

from formservice.errors import AppError
from formservice.notice import NoticeError, load_notice
from formservice.settings import Settings, SettingsError
from formservice.store import Doc, Engine, StoreError, StoreLocked
from formservice.store.contract import StoreReport
from formservice.typography import plural

if TYPE_CHECKING:
    from formservice.files import FileStore
    from formservice.staff.records import Staff
    from formservice.web.services import Services

log = logging.getLogger("formservice.server")
T = TypeVar("T")

DEMO_DIR = "demo"


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def _settings(default_base_url: str) -> Settings | None:
    try:
        return Settings.from_env(default_base_url=default_base_url)
    except SettingsError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print("\nLe service n'a pas démarré : corrigez la configuration ci-dessus.", file=sys.stderr)
        return None


_DEMO_DATES_RE = re.compile(
    r"(?m)^(\s+)(opens|closes|documents_deadline|age_reference_date):[ \t]*(\S[^#\n]*?)[ \t]*$"
)


def demo_notice_text(text: str, today: date) -> str:
    """notice.yml's text with every date moved by the same number of days, so that registration
    opened 7 days ago (at its usual hour): the closing, the documents' deadline and the date ages
    are counted at keep their distances from the opening. Comments are kept."""
    found = {m.group(2): m.group(3).strip("\"'") for m in _DEMO_DATES_RE.finditer(text)}
    opens = datetime.strptime(found["opens"], "%Y-%m-%d %H:%M")
    shift = (today - timedelta(days=7)) - opens.date()

    def move(match: re.Match[str]) -> str:
        key, value = match.group(2), match.group(3).strip("\"'")
        if key == "age_reference_date":
            return f"{match.group(1)}{key}: {date.fromisoformat(value) + shift:%Y-%m-%d}"
        return f"{match.group(1)}{key}: {datetime.strptime(value, '%Y-%m-%d %H:%M') + shift:%Y-%m-%d %H:%M}"

    return _DEMO_DATES_RE.sub(move, text)


def prepare_demo(settings: Settings, today: date | None = None, *, publish_site: bool = True) -> Settings:
    """Write the demo notice (and, if the site builder is there, the demo site) in the data dir."""
    today = today or date.today()
    demo_dir = settings.data_dir / DEMO_DIR
    demo_dir.mkdir(parents=True, exist_ok=True)
    notice_path = demo_dir / "notice.yml"
    notice_path.write_text(
        demo_notice_text(settings.notice_path.read_text(encoding="utf-8"), today), encoding="utf-8"
    )
    site_dir = settings.site_dir
    if not publish_site:
        return settings.with_(notice_path=notice_path)
    try:
        from formservice.notice.site.publish import publish
    except ImportError:
        log.warning("démo : constructeur du site absent, le site publié n'est pas régénéré")
    else:
        try:
            publish(notice_path, demo_dir / "site")
            site_dir = demo_dir / "site"
        except Exception as exc:
            log.warning("démo : le site n'a pas pu être publié (%s) ; site existant servi", exc)
    return settings.with_(notice_path=notice_path, site_dir=site_dir)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's parameters, the same for one process and for each worker."""
    return {
        "server_header": False,
        "access_log": False,  # formservice.access logs without tokens
        "proxy_headers": True,  # X-Forwarded-For/-Proto, believed from the trusted proxies only
        "forwarded_allow_ips": settings.trusted_proxies,
        "log_level": "info",
        "log_config": None,
        # Beyond this many connections, uvicorn answers 503 at once rather than queueing requests
        # nobody will wait for; idle keep-alive connections are closed after a few seconds.
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": 5,
        "h11_max_incomplete_event_size": 64 * 1024,
    }


def one_worker_only(workers: int) -> str:
    return (
        f"--workers {workers} : impossible avec le stockage intégré (TinyDB). Un seul processus peut "
        "tenir son dossier de données (il le verrouille), et ce processus garde en mémoire ce que "
        "plusieurs devraient partager : les délais après des mots de passe erronés, les envois de "
        "fichiers en cours, la distribution des courriels. Servez avec --workers 1, ou placez les "
        "données dans PostgreSQL (FORMSERVICE_STORE=postgresql://…, voir « Mettre en production » "
        "dans le README, puis formservice store copy pour y passer les données existantes)."
    )


def serve(host: str, port: int, demo: bool, workers: int = 1) -> int:
    """Every refusal happens before uvicorn starts, with a French reason and its exit code (2 for
    the configuration, 1 for notice.yml or the data directory): a bad deployment never half-serves.
    ``workers`` > 1: that many processes on the port (``supervisor.py``), PostgreSQL only."""
    import uvicorn

    from formservice.web.app import create_app

    configure_logging()
    settings = _settings(f"http://{host}:{port}")
    if settings is None:
        return 2
    if workers > 1 and not settings.shared_store:
        print(one_worker_only(workers), file=sys.stderr)
        return 2
    settings = _with_readable_notice(settings, demo)
    if settings is None:
        return 1
    _warn_if_secret_generated(settings)
    if not _files_reachable(settings):
        return 1
    engine = _open_store(settings)  # creates or migrates the schema, once, before any worker
    if engine is None:
        return 1
    where = settings.data_dir if not settings.shared_store else "PostgreSQL"
    if workers > 1:
        from formservice.store.factory import open_engine
        from formservice.supervisor import run_workers

        del engine  # its pool was never opened: each worker opens its own after the fork
        print(
            f"Service en ligne sur {settings.base_url}/ ({workers} processus, données : {where})", flush=True
        )
        try:
            return run_workers(
                workers,
                host,
                port,
                lambda: create_app(settings, engine=open_engine(settings.store_url), reconcile_files=True),
                uvicorn_options(settings),
            )
        except OSError as exc:  # the port: taken, or not ours to open
            print(f"{host}:{port} ne peut pas être ouvert : {exc.strerror or exc}", file=sys.stderr)
            return 1
    app = create_app(settings, engine=engine, reconcile_files=True)  # our durable store: clean up
    print(f"Service en ligne sur {settings.base_url}/ (données : {where})", flush=True)
    uvicorn.run(app, host=host, port=port, **uvicorn_options(settings))
    return 0


def _with_readable_notice(settings: Settings, demo: bool) -> Settings | None:
    """The settings to serve (pointing at the demo copy for ``demo``), or None once the reason is
    printed. notice.yml is read before anything is opened, so that a mistake in it gets the
    operator's report rather than a traceback."""
    try:
        if demo:
            settings = prepare_demo(settings)
        load_notice(settings.notice_path)
    except NoticeError as exc:
        print(exc.report(), file=sys.stderr)
        print("\nLe service n'a pas démarré : corrigez notice.yml (formservice check).", file=sys.stderr)
        return None
    except OSError as exc:
        print(f"Lecture impossible : {exc}", file=sys.stderr)
        return None
    return settings


def _warn_if_secret_generated(settings: Settings) -> None:
    """Only development generates a key; the warning keeps a development setup from being
    mistaken for one fit for production."""
    if settings.secrets_generated:
        log.warning(
            "clé secrète générée pour le développement (%s) : jamais en production",
            settings.secret_path,
        )


def _files_reachable(settings: Settings) -> bool:
    """An object store that cannot be reached (address, keys, bucket) is said before serving, not
    discovered by the first candidate whose upload fails."""
    if not settings.files.s3:
        return True
    from formservice.files import FilesUnavailable
    from formservice.files.factory import open_files

    files = open_files(settings.files, root=settings.uploads_dir, scratch=settings.tmp_dir)
    try:
        files.check()
    except FilesUnavailable as exc:
        print(
            f"Le stockage des justificatifs {files.describe()} ne répond pas ou refuse l'accès : {exc}",
            file=sys.stderr,
        )
        return False
    finally:
        files.close()
    return True


def _open_store(settings: Settings) -> Engine | None:
    """The engine, or None once the reason is printed. The store locks the data directory (one
    service at a time): a second start is told so in a sentence of its own."""
    from formservice.store.factory import open_engine

    try:
        return open_engine(settings.store_url)
    except StoreLocked:
        print(
            f"Le dossier de données {settings.data_dir} est déjà utilisé par un autre processus "
            "(un seul service à la fois).",
            file=sys.stderr,
        )
    except StoreError as exc:
        print(f"{_store_name(settings)} ne peut pas être ouvert : {exc}", file=sys.stderr)
    return None


def _store_name(settings: Settings) -> str:
    return "Le stockage PostgreSQL" if settings.shared_store else f"Le dossier de données {settings.data_dir}"


def _command_services(when_locked: Callable[[Settings], str]) -> Services | None:
    """The services over the data directory's store, for a command run while the service is
    stopped; None once the reason is printed (``when_locked``: what to do while it runs)."""
    from formservice.store.factory import open_engine
    from formservice.web.composition import build_services

    configure_logging()
    settings = _settings("http://127.0.0.1:8000")
    if settings is None:
        return None
    try:
        engine = open_engine(settings.store_url)
    except StoreLocked:
        print(
            f"Le service est en marche et tient le dossier de données : {when_locked(settings)}",
            file=sys.stderr,
        )
        return None
    except StoreError as exc:
        print(f"Le dossier de données {settings.data_dir} ne peut pas être ouvert : {exc}", file=sys.stderr)
        return None
    try:
        return build_services(settings, engine=engine)
    except NoticeError as exc:
        print(exc.report(), file=sys.stderr)
        return None


def purge(dry_run: bool) -> int:
    svc = _command_services(
        lambda settings: (
            "il purge lui-même les comptes toutes les "
            f"{int(settings.purge_interval.total_seconds() // 60)} minutes."
        )
    )
    if svc is None:
        return 1

    async def run() -> int:
        try:
            found = await svc.accounts.purge_expired(dry_run=dry_run)
        finally:
            svc.close()
            await svc.store.close()
        n = len(found)
        verb = "à supprimer" if dry_run else ("supprimés" if n > 1 else "supprimé")
        print(f"{plural(n, 'compte')} non {'activés' if n > 1 else 'activé'} dans le délai {verb}.")
        for account in found:
            print(f"  {svc.audit.pseudonym('a', account['id'])} créé le {account['created_at']}")
        return 0

    return anyio.run(run)


MAIL_LOCKED_EXIT = 3  # `formservice mail deliver` beside a service holding the embedded store


def deliver_mail() -> int:
    """``formservice mail deliver``: the outbox's delivery alone, without HTTP, until SIGTERM
    (systemd's formservice-mail.service). For a store several processes share (PostgreSQL): the
    embedded store is held by the running service, which delivers its own mails; the command
    then says so and exits with MAIL_LOCKED_EXIT, which the unit does not restart on."""
    import signal

    svc = _command_services(
        lambda settings: "il livre lui-même ses courriels (base embarquée) ; ce service-ci est inutile."
    )
    if svc is None:
        return MAIL_LOCKED_EXIT

    async def run() -> int:
        try:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async with anyio.create_task_group() as tg:
                    await tg.start(svc.mail.run)
                    print("Livraison des courriels en marche.", flush=True)
                    async for _ in signals:
                        break
                    with anyio.move_on_after(10, shield=True):
                        await svc.mail.drain()
                    tg.cancel_scope.cancel()
        finally:
            svc.close()
            await svc.store.close()
        return 0

    return anyio.run(run)


STAFF_WHILE_RUNNING = (
    "arrêtez-le le temps de la commande, ou invitez et désactivez depuis l'espace de gestion "
    "(compte administrateur)."
)


def staff(
    action: str, email: str | None = None, role: str | None = None, poles: list[str] | None = None
) -> int:
    """``formservice staff invite|list|disable``: prints no secret (the link goes by mail only)."""
    svc = _command_services(lambda settings: STAFF_WHILE_RUNNING)
    if svc is None:
        return 1

    async def run() -> int:
        try:
            if action == "invite":
                assert email is not None and role is not None
                member = await svc.staff.invite(email, role, poles or [])
                await svc.mail.drain()
                line = _staff_line(member, svc)
                print(f"Invitation envoyée à {member['email']} ({line}) : lien valable 72 heures.")
            elif action == "disable":
                assert email is not None
                member = await svc.staff.disable(email)
                print(f"{member['email']} désactivé : ses sessions sont fermées.")
            else:
                members = await svc.staff.list()
                print(f"{plural(len(members), 'membre')} de la gestion.")
                for member in members:
                    status = STATUS_FR.get(member["status"], member["status"])
                    print(f"  {member['email']} — {_staff_line(member, svc)} — {status}")
        except AppError as exc:
            print(exc.message, file=sys.stderr)
            return 1
        finally:
            svc.close()
            await svc.store.close()
        return 0

    return anyio.run(run)


STATUS_FR = {"invited": "invité", "active": "actif", "disabled": "désactivé"}


def _staff_line(member: Staff, svc: Services) -> str:
    if member["role"] == "administrateur":
        return "administrateur, tous les pôles"
    names = {p.id: p.name for p in svc.notice().poles}
    return "gestionnaire, " + ", ".join(names.get(p, p) for p in member["poles"])


EXPORT_WHILE_RUNNING = (
    "arrêtez-le le temps de l'export, ou téléchargez-le depuis l'espace de gestion (page « Exports »)."
)


def export(fmt: str, output: str, pole: str | None = None, state: str | None = None) -> int:
    """``formservice export``: every pôle's dossiers (or one pôle's), written to ``output``."""
    svc = _command_services(lambda settings: EXPORT_WHILE_RUNNING)
    if svc is None:
        return 1

    async def run() -> int:
        try:
            every_pole = [p.id for p in svc.notice().poles]
            if pole and pole not in every_pole:
                print(f"Pôle inconnu : « {pole} » ; pôles : {', '.join(every_pole)}.", file=sys.stderr)
                return 1
            selection = svc.exports.selection(every_pole, pole=pole or "", state=state or "")
            # The list fields of dossiers written by an older release or under another notice
            # (the running service does this at start; the service is stopped here).
            await svc.review.refresh_listing()
            made = svc.exports.export(fmt, selection, staff_id=None)
            await svc.exports.write_to(made, Path(output))
        except AppError as exc:
            print(exc.message, file=sys.stderr)
            return 1
        except OSError as exc:
            print(f"Écriture impossible dans {output} : {exc.strerror or exc}", file=sys.stderr)
            return 1
        finally:
            svc.close()
            await svc.store.close()
        what = f"{plural(made.counts.files, 'fichier')} de " if fmt == "zip" else ""
        rows = made.counts.rows
        print(f"{what}{plural(rows, 'dossier')} {'exportés' if rows > 1 else 'exporté'} dans {output}.")
        return 0

    return anyio.run(run)


def _command_files(data_dir: Path) -> FileStore | None:
    """The candidates' files as FORMSERVICE_FILES names them (the data directory's uploads by
    default); None once the problem is printed."""
    from formservice.files.factory import open_files
    from formservice.settings import files_config_from

    try:
        return open_files(files_config_from(), root=data_dir / "uploads", scratch=data_dir / "tmp")
    except SettingsError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        return None


def store_copy(source_url: str, target_url: str, data_dir: Path) -> int:
    """``formservice store copy --from URL --to URL``: every table, then the files checked.
    Both stores are opened here (a TinyDB one must not be in use by the service)."""
    from formservice.store.factory import open_engine
    from formservice.store.postgres.errors import redacted as _redacted
    from formservice.store.transfer import copy_tables

    configure_logging()
    engines: list[Engine] = []
    for url in (source_url, target_url):
        try:
            engines.append(open_engine(url))
        except StoreLocked:
            print(f"{_redacted(url)} est utilisé par le service en marche : arrêtez-le le temps de la copie.",
                  file=sys.stderr)  # fmt: skip
        except StoreError as exc:
            print(f"{_redacted(url)} ne peut pas être ouvert : {exc}", file=sys.stderr)
    files = _command_files(data_dir)
    if len(engines) < 2 or files is None:
        return 1
    source, target = engines

    async def run() -> int:
        try:
            report = await copy_tables(source, target)
            checked, file_problems = await copy_files(source, target, files)
        finally:
            await source.close()
            await target.close()
        for table, n in report.copied.items():
            print(f"  {table} : {plural(n, 'document')} {'copiés' if n > 1 else 'copié'}")
        verified = "vérifiés" if checked > 1 else "vérifié"
        print(f"  justificatifs : {plural(checked, 'fichier')} {verified} (SHA-256)")
        for problem in report.problems + file_problems:
            print(f"  problème : {problem}", file=sys.stderr)
        if report.problems or file_problems:
            print("Copie incomplète ou non vérifiée : ne servez pas la destination.", file=sys.stderr)
            return 1
        print(f"Copie terminée et vérifiée : {_redacted(source_url)} → {_redacted(target_url)}.")
        return 0

    return anyio.run(run)


KIND_FR = {
    "closing": "avant la clôture",
    "correction": "avant la fin du délai de correction",
    "activation": "activation",
}


def reminders(dry_run: bool) -> int:
    """``formservice reminders [--dry-run]``: the reminders due now, each once per candidate and
    occasion (the running service sends them itself, every hour)."""
    svc = _command_services(
        lambda settings: (
            "il envoie lui-même les relances toutes les heures (pour --dry-run, arrêtez-le le "
            "temps de la commande)."
        )
    )
    if svc is None:
        return 1

    async def run() -> int:
        outcome = await _then_close(svc, svc.reminders.run(dry_run=dry_run), drain=not dry_run)
        n = len(outcome.reminders)
        verb = "à envoyer" if dry_run else ("envoyées" if n > 1 else "envoyée")
        print(f"{plural(n, 'relance')} {verb}.")
        for r in outcome.reminders:
            print(f"  {r.to} — {KIND_FR[r.kind]} ({r.occasion}) : {r.what}")
        return 0

    return anyio.run(run)


def retention(dry_run: bool) -> int:
    """``formservice retention [--dry-run]``: deletes what notice.yml's retention says is due,
    warns the unused accounts; prints ids and pseudonyms only (cron keeps its output)."""
    svc = _command_services(lambda settings: "arrêtez-le le temps de la commande.")
    if svc is None:
        return 1

    async def run() -> int:
        try:
            report = await _then_close(svc, svc.retention.run(dry_run=dry_run), drain=not dry_run)
        except AppError as exc:
            print(exc.message, file=sys.stderr)
            return 1
        verb = "à supprimer" if dry_run else "supprimé(s)"
        for session, ids in sorted(report.enrolments.items()):
            print(f"{session} : {len(ids)} dossier(s) {verb} — {', '.join(ids)}")
        if not dry_run:
            print(f"{report.files} fichier(s) supprimé(s).")
        if report.files_left:
            print(
                "Interrompu : le stockage des justificatifs a cessé de répondre (voir le journal). "
                f"{report.files_left} fichier(s) dont la suppression n'est pas confirmée, peut-être encore "
                f"dans {svc.files.describe()} sans inscription : le service les supprimera à son prochain "
                "démarrage (formservice store check les liste). "
                "Les dossiers restants seront supprimés à la prochaine exécution.",
                file=sys.stderr,
            )
        print(_listed(f"{len(report.accounts)} compte(s) {verb}", report.accounts))
        warned = "à avertir" if dry_run else "averti(s) par courriel"
        print(_listed(f"{len(report.warned)} compte(s) inutilisé(s) {warned}", report.warned))
        for session, count in sorted(report.unknown_sessions.items()):
            print(
                f"{session} : {count} dossier(s) conservé(s) : session absente de retention.sessions dans "
                "notice.yml (ajoutez sa date de fin)."
            )
        return 1 if report.files_left else 0

    return anyio.run(run)


async def _then_close(svc: Services, work: Awaitable[T], *, drain: bool) -> T:
    """The command's work, then (``drain``) the mails it queued delivered, then every service closed."""
    try:
        result = await work
        if drain:
            await svc.mail.drain()
        return result
    finally:
        svc.close()
        await svc.store.close()


def _listed(head: str, items: list[str]) -> str:
    return f"{head} : {', '.join(items)}" if items else head


async def copy_files(source: Engine, target: Engine, files: FileStore) -> tuple[int, list[str]]:
    """The candidates' files of the copied records. The records move, the files stay where
    FORMSERVICE_FILES keeps them (local or S3): both stores' records point to the same files,
    each read back and its SHA-256 compared with its record's."""
    from formservice.enrolment.reconcile import hash_problems
    from formservice.store.records import Enrolment

    checked, problems = 0, list[str]()
    ids = await target.ids("enrolments")
    for start in range(0, len(ids), 500):
        page = cast(list[Enrolment], await target.get_many("enrolments", ids[start : start + 500]))
        n, found = await anyio.to_thread.run_sync(hash_problems, page, files)
        checked, problems = checked + n, problems + found
    return checked, problems


def _on_shared_store(url: str, work: Callable[[Engine], Awaitable[T]]) -> T | None:
    """``work(engine)`` on the PostgreSQL store, closed after; None once the reason is printed.
    Safe while the service runs: the database serves both."""
    from formservice.store.factory import open_engine

    try:
        engine = open_engine(url)
    except StoreError as exc:
        print(f"Le stockage PostgreSQL ne peut pas être ouvert : {exc}", file=sys.stderr)
        return None

    async def run() -> T:
        try:
            return await work(engine)
        finally:
            await engine.close()

    try:
        return anyio.run(run)
    except StoreError as exc:
        print(f"Le stockage PostgreSQL ne répond pas : {exc}", file=sys.stderr)
        return None


def read_shared_table(url: str, table: str) -> list[Doc] | None:
    """Every document of ``table`` in the PostgreSQL store (``mail status``)."""
    return _on_shared_store(url, lambda engine: engine.scan(table))


def shared_store_check(url: str, data_dir: Path) -> int:
    """``formservice store check`` on PostgreSQL: counts, every derived column against its
    document (``PostgresEngine.check``), and the files against the records."""
    from formservice.enrolment.reconcile import file_report
    from formservice.store.records import Enrolment

    async def work(engine: Engine) -> tuple[StoreReport, list[Enrolment]]:
        return await engine.check(), cast(list[Enrolment], await engine.scan("enrolments"))

    found = _on_shared_store(url, work)
    if found is None:
        return 1
    report, enrolments = found
    print("Stockage PostgreSQL")
    for table, n in report.counts.items():
        print(f"  {table} : {n} document(s)")
    files = _command_files(data_dir)
    if files is None:
        return 1
    missing, orphans = file_report(enrolments, files)
    problems = list(report.problems) + [
        f"l'inscription {e} référence le fichier {f}, absent du disque" for e, f in missing
    ]
    if orphans:
        print(f"  justificatifs : {plural(len(orphans), 'fichier')} sans inscription dans {files.describe()}")
    for problem in problems:
        print(f"  problème : {problem}", file=sys.stderr)
    print("Aucun problème." if not problems else f"{len(problems)} problème(s).")
    return 1 if problems else 0

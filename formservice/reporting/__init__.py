"""What the office takes away and what the service owes the candidates: exports (CSV for French
Excel, XLSX, ZIP of the pieces), reminders, retention and each candidate's own data.

- ``columns``: the columns of an export, defined once, and the selection (scope and filters);
- ``writers``: the CSV, XLSX and ZIP writers, async generators of byte chunks;
- ``exports``: the export use cases, streamed and audited;
- ``reminders``: the reminder mails, each at most once per candidate and occasion;
- ``retention``: the deletion of a session's data after ``retention.months``, and of accounts
  unused for the last sessions (after a warning);
- ``mydata``: « Mes données », everything the service holds about one candidate;
- ``statistics`` and ``charts``: the campaign in numbers, from the store's counts, and its
  server-drawn SVG charts.
"""

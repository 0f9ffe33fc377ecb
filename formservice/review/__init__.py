"""formservice/review: the exam office's check of the dossiers.

``states`` (pure): the dossier's states and the one transition table; ``rules`` (pure): the
decisions on the pieces, the correction loop and its deadline, the chained history, the private
notes; ``service``: the use cases, each one atomic write with the mail it causes; ``records``:
the typed review part of an enrolment (defined with the store contract).
"""

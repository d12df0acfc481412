"""Profile files as the panel tests upload them."""

from __future__ import annotations

VALID = b'''\
[profile]
name = "clinic-lentigo"
title = "Lentigo, the clinic's own"
version = 1
device = "n2"
kind = "lesion"
description = "A lesion profile written by the clinic."
references = ["Kuflik EG. Cryosurgery updated. J Am Acad Dermatol. 1994;31(6):925-944."]

[device]
nozzle = "C"
pressure_kpa = 60

[session]
max_session_s = 600
max_cryogen_g = 150
min_interval_h = 48
requires_cold_test = false
checklist = ["No cold urticaria", "Lesion diagnosed as benign"]

[[zones]]
name = "lesion"
max_dwell_s = 10
max_total_s = 40
passes = 2
rest_s = 30
repeat = 5
'''

#: Three problems: a key missing, an unknown key, a string for a number.
BROKEN = (VALID.replace(b'title = "Lentigo, the clinic\'s own"\n', b"")
          .replace(b'nozzle = "C"', b'nozzle = "C"\ncolour = "blue"')
          .replace(b"rest_s = 30", b'rest_s = "thirty"'))

#: Well formed, but a dwell above the hard ceiling for N2 lesions.
TOO_LONG = VALID.replace(b"max_dwell_s = 10", b"max_dwell_s = 99")

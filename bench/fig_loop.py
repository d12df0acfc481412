"""stub"""
from __future__ import annotations
SPECS_3 = SPECS_4 = SPECS_7 = SPECS_8 = ()

async def figure_3(ctx): return []
figure_4 = figure_5 = figure_6 = figure_7 = figure_8 = figure_3

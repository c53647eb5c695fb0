"""The Python step of the expense workflow: prices a claim. Loaded once into the page's
Pyodide by workflow.js; `quote` gets plain values and returns a dict (JSON data)."""

from decimal import ROUND_HALF_UP, Decimal

TAX_RATE = Decimal("0.20")
REVIEW_OVER = Decimal("500")


def quote(item: str, amount: float) -> dict[str, object]:
    """Tax and total (to the cent, half up) and whether the claim needs a manager."""
    net = Decimal(str(amount)).quantize(Decimal("0.01"), ROUND_HALF_UP)
    tax = (net * TAX_RATE).quantize(Decimal("0.01"), ROUND_HALF_UP)
    total = net + tax
    return {"item": item, "net": str(net), "tax": str(tax), "total": str(total),
            "needs_manager": total > REVIEW_OVER}

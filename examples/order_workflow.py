"""The order workflow: six steps, arguments from a model or bound from earlier results, durable.

``validate_customer`` -> ``check_inventory`` -> ``calculate_pricing`` -> ``process_payment``
(only when the total is above 0) -> ``create_order`` -> ``send_confirmation``. Each step prints as
it starts and ends; every step is checkpointed in a SQLite file, so a run stopped half-way
continues with ``--resume WORKFLOW_ID``.

Run it (from the repository root, after ``make install``)::

    .venv/bin/python examples/order_workflow.py                      # scripted fake model
    .venv/bin/python examples/order_workflow.py --coupon FREEBIE     # total 0: payment skipped
    .venv/bin/python examples/order_workflow.py --resume wf_...      # continue a stored run

The model that chooses arguments is, by default, Callisto's scripted fake model
(``callisto.testing.fake_llm``) started in this process, answering each forced call with the
values a model would read from the request. To use a real one:

- ``CHAT_BASE_URL`` (with ``CHAT_MODEL``, ``CHAT_API_KEY``): any OpenAI-compatible Chat
  Completions server (vLLM, Ollama, OpenAI).
- ``--assistants``: a Callisto server's Assistants API at ``CALLISTO_BASE_URL`` (default
  ``http://127.0.0.1:8000/v1``, i.e. ``make serve``) with the model ``CALLISTO_MODEL``. The
  built-in ``offline/...`` model can't read these arguments from a sentence; give the server a
  real model (or the fake one as a provider) for this mode.

The checkpoints go to ``ORDER_WORKFLOW_DB`` (default ``data/order_workflow.db``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai

from callisto.tools import tool
from callisto.tools.workflow import (
    ArgumentChooser,
    AssistantArguments,
    ChatArguments,
    Step,
    StepRecord,
    Workflow,
    WorkflowRun,
    WorkflowRunner,
    WorkflowStatus,
    current_step,
)

warnings.filterwarnings(
    "ignore", message=r"(The Assistants API is )?deprecated", category=DeprecationWarning
)

CUSTOMERS = {"C-42": {"name": "Ada Lovelace", "email": "ada@example.com"}}
PRODUCTS = {"WIDGET-7": {"price": 12.5, "stock": 40}}
COUPONS = {"FREEBIE": 1.0, "HALF": 0.5}
PAYMENTS: dict[str, dict[str, Any]] = {}  # idempotency key -> charge: a retried key charges once


@tool
def lookup_customer(customer_id: str) -> dict[str, Any]:
    """Look up a customer by id.

    Args:
        customer_id: The customer's id, e.g. "C-42".
    """
    found = CUSTOMERS.get(customer_id)
    if found is None:
        raise LookupError(f"no customer {customer_id}")
    return {"customer_id": customer_id, **found}


@tool
def check_product_availability(product_id: str, quantity: int) -> dict[str, Any]:
    """Check that a product is in stock in the quantity wanted.

    Args:
        product_id: The product's id, e.g. "WIDGET-7".
        quantity: How many are wanted.
    """
    product = PRODUCTS[product_id]
    if product["stock"] < quantity:
        raise ValueError(f"only {product['stock']} of {product_id} left")
    return {"product_id": product_id, "quantity": quantity, "unit_price": product["price"]}


@tool
def calculate_total_price(
    product_id: str, quantity: int, unit_price: float, coupon: str | None
) -> dict[str, Any]:
    """Compute the order's total after any coupon.

    Args:
        product_id: The product.
        quantity: How many.
        unit_price: Price of one.
        coupon: A coupon code the customer gave, or null.
    """
    subtotal = round(quantity * unit_price, 2)
    discount = round(subtotal * COUPONS.get(coupon or "", 0.0), 2)
    return {"product_id": product_id, "subtotal": subtotal, "total": subtotal - discount}


@tool
def charge_payment(customer_id: str, amount: float) -> dict[str, Any]:
    """Charge the customer's card.

    Args:
        customer_id: Who pays.
        amount: How much.
    """
    key = current_step().idempotency_key
    charge = PAYMENTS.setdefault(key, {"payment_id": f"pay-{len(PAYMENTS) + 1}", "amount": amount})
    return charge


@tool
def create_order_record(
    customer_id: str, product_id: str, quantity: int, total: float, payment_id: str | None = None
) -> dict[str, Any]:
    """Store the order.

    Args:
        customer_id: The customer.
        product_id: The product.
        quantity: How many.
        total: What it cost.
        payment_id: The payment, when there was one.
    """
    return {"order_id": f"order-{customer_id}-{product_id}", "total": total, "paid": payment_id}


@tool
def send_email(to: str, subject: str, body: str) -> dict[str, Any]:
    """Send an email.

    Args:
        to: The address.
        subject: The subject line.
        body: The text.
    """
    return {"sent": True, "to": to, "subject": subject}


def build_workflow() -> Workflow:
    """The order workflow: which step calls what, after what, and where arguments come from."""
    return Workflow(
        "order",
        [
            Step("validate_customer", lookup_customer),
            Step("check_inventory", check_product_availability, depends_on=["validate_customer"]),
            Step(
                "calculate_pricing",
                calculate_total_price,
                depends_on=["check_inventory"],
                bind={  # the coupon is left to the model
                    "product_id": "results.check_inventory.product_id",
                    "quantity": "results.check_inventory.quantity",
                    "unit_price": "results.check_inventory.unit_price",
                },
            ),
            Step(
                "process_payment",
                charge_payment,
                depends_on=["calculate_pricing"],
                when="results.calculate_pricing.total > 0",
                bind={
                    "customer_id": "results.validate_customer.customer_id",
                    "amount": "results.calculate_pricing.total",
                },
            ),
            Step(
                "create_order",
                create_order_record,
                depends_on=["process_payment"],
                run_if_skipped=True,  # a free order is still an order
                bind={
                    "customer_id": "results.validate_customer.customer_id",
                    "product_id": "results.check_inventory.product_id",
                    "quantity": "results.check_inventory.quantity",
                    "total": "results.calculate_pricing.total",
                    "payment_id": "results.process_payment.payment_id "
                    "if results.process_payment else None",
                },
            ),
            Step(
                "send_confirmation",
                send_email,
                depends_on=["create_order"],
                bind={"to": "results.validate_customer.email"},
                instructions="Write a short, friendly confirmation naming the order id.",
            ),
        ],
    )


def scripted_answers(coupon: str | None) -> dict[str, dict[str, Any]]:
    """What the fake model answers for each function (what a model reads from the request)."""
    return {
        "lookup_customer": {"customer_id": "C-42"},
        "check_product_availability": {"product_id": "WIDGET-7", "quantity": 2},
        "calculate_total_price": {"coupon": coupon},
        "send_email": {"subject": "Your order", "body": "Thank you! Your order is on its way."},
    }


def fake_responder(answers: dict[str, dict[str, Any]]) -> Any:
    """A fake-model responder answering the forced function of each request from ``answers``."""
    from callisto.testing.fake_llm import RecordedRequest, Reply

    def respond(request: RecordedRequest) -> Reply:
        forced = (request.body.get("tool_choice") or {}).get("function", {}).get("name")
        if forced is None:  # an Assistants run names it in its tool list
            forced = request.body["tools"][0]["function"]["name"]
        return Reply.tool_calls((forced, answers[forced]))

    return respond


@contextlib.contextmanager
def chosen_model(options: argparse.Namespace) -> Iterator[ArgumentChooser]:
    """The model choosing arguments: Assistants, a Chat Completions server, or the fake."""
    if options.assistants:
        base_url = os.environ.get("CALLISTO_BASE_URL", "http://127.0.0.1:8000/v1")
        client = openai.OpenAI(base_url=base_url, api_key=os.environ.get("CALLISTO_API_KEY", "-"))
        assistant = client.beta.assistants.create(
            name="order workflow", model=os.environ.get("CALLISTO_MODEL", "offline/demo")
        )
        yield AssistantArguments(client, assistant_id=assistant.id)
        return
    if os.environ.get("CHAT_BASE_URL"):
        client = openai.OpenAI(
            base_url=os.environ["CHAT_BASE_URL"], api_key=os.environ.get("CHAT_API_KEY", "-")
        )
        yield ChatArguments(client, model=os.environ.get("CHAT_MODEL", "gpt-4o-mini"))
        return
    from callisto.testing.fake_llm import FakeLLM

    with FakeLLM(default=fake_responder(scripted_answers(options.coupon))) as fake:
        yield ChatArguments(openai.OpenAI(base_url=fake.base_url, api_key="-"), model="fake")


def print_step(run: WorkflowRun, record: StepRecord) -> None:
    """Print a step each time it is checkpointed."""
    detail = record.reason or record.question or record.error or record.result
    if record.status == "running":
        detail = record.arguments
    print(f"[{run.id}] {record.name}: {record.status} {detail}", flush=True)


def main(argv: list[str] | None = None) -> int:
    """Run (or resume) one order; exit 0 when it completes."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--coupon", default=None, help="a coupon the customer mentions")
    parser.add_argument("--resume", metavar="WORKFLOW_ID", help="continue a stored run")
    parser.add_argument("--assistants", action="store_true", help="choose through Callisto")
    options = parser.parse_args(argv)
    store = Path(os.environ.get("ORDER_WORKFLOW_DB", "data/order_workflow.db"))
    request = "I'm customer C-42 and I'd like 2 of WIDGET-7, please."
    if options.coupon:
        request += f" My coupon is {options.coupon}."
    with chosen_model(options) as model:
        runner = WorkflowRunner(build_workflow(), store=store, model=model, on_event=print_step)
        with runner:
            if options.resume:
                run = runner.resume_sync(options.resume)
            else:
                run = runner.start_sync(request)
    print(run.to_json(indent=2))
    if run.status != WorkflowStatus.COMPLETED:
        print(f"FAILED: the run ended {run.status}: {run.error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from _common import BASE_URL, run

    # With --assistants, a Callisto that does not answer ends the example in one line.
    raise SystemExit(run(main, BASE_URL))

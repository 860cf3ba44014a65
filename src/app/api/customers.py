"""`/v1/customers`: sign up and look up."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from fastapi import APIRouter, Depends, Response

from app.api.dependencies import CustomersDep, require_json
from app.api.problems import ALREADY_EXISTS
from app.api.schemas import CustomerIn, CustomerOut, problem_responses

router = APIRouter(prefix="/customers", tags=["customers"])


@router.post(
    "",
    status_code=201,
    response_model=CustomerOut,
    dependencies=[Depends(require_json)],
    responses=problem_responses(400, 401, ALREADY_EXISTS, 413, 415, 422, 503),
)
async def sign_up(body: CustomerIn, customers: CustomersDep, response: Response) -> CustomerOut:
    customer = await customers.sign_up(email=body.email, name=body.name, beta_group=body.beta_group)
    response.headers["Location"] = f"/v1/customers/{customer.id}"
    return CustomerOut(**asdict(customer))


@router.get("/{customer_id}", response_model=CustomerOut, responses=problem_responses(401, 404, 422, 503))
async def get_customer(customer_id: uuid.UUID, customers: CustomersDep) -> CustomerOut:
    return CustomerOut(**asdict(await customers.get(customer_id)))

"""Toss error codes with their HTTP status and (Korean) message, as the real API words them.

Where Toss documents no code, the sandbox's choice is marked.
"""

from __future__ import annotations

from sandbox.replies import Reply

ERRORS: dict[str, tuple[int, str]] = {
    "UNAUTHORIZED_KEY": (401, "인증되지 않은 시크릿 키 혹은 클라이언트 키 입니다."),
    "INCORRECT_BASIC_AUTH_FORMAT": (403, "잘못된 요청입니다. ':' 를 포함해 인코딩해주세요."),
    "INVALID_REQUEST": (400, "잘못된 요청입니다."),
    "INVALID_IDEMPOTENCY_KEY": (400, "멱등키는 300자 이하로 입력해주세요."),
    "IDEMPOTENT_REQUEST_PROCESSING": (409, "이전 멱등 요청이 처리 중입니다. 잠시 후 다시 시도해주세요."),
    "NOT_FOUND": (404, "존재하지 않는 정보 입니다."),
    "NOT_FOUND_HTTP_METHOD": (404, "지원하지 않는 HTTP 메서드입니다."),
    "NOT_FOUND_PAYMENT": (404, "존재하지 않는 결제 정보 입니다."),
    "NOT_FOUND_PAYMENT_SESSION": (404, "결제 시간이 만료되어 결제 진행 데이터가 존재하지 않습니다."),
    "ALREADY_PROCESSED_PAYMENT": (400, "이미 처리된 결제 입니다."),
    "REJECT_CARD_PAYMENT": (403, "한도초과 혹은 잔액부족으로 결제에 실패했습니다."),
    "ALREADY_CANCELED_PAYMENT": (400, "이미 취소된 결제 입니다."),
    "NOT_CANCELABLE_AMOUNT": (403, "취소 할 수 없는 금액 입니다."),
    "NOT_CANCELABLE_PAYMENT": (403, "취소 할 수 없는 결제 입니다."),
    "NOT_ALLOWED_PARTIAL_REFUND_WAITING_DEPOSIT": (403, "입금 대기중인 결제는 부분 환불이 불가합니다."),
    "NOT_MATCHES_REFUNDABLE_AMOUNT": (400, "잔액 결과가 일치하지 않습니다."),
    "INVALID_BANK": (400, "유효하지 않은 은행입니다."),
    "INVALID_REFUND_ACCOUNT_NUMBER": (400, "잘못된 환불 계좌번호입니다."),
    "INVALID_REFUND_ACCOUNT_INFO": (400, "환불 계좌번호와 예금주명이 일치하지 않습니다."),
    "FAILED_INTERNAL_SYSTEM_PROCESSING": (500, "내부 시스템 처리 작업이 실패했습니다. 잠시 후 다시 시도해주세요."),
    # Redirect-time (failUrl) codes of the checkout; the status is never sent.
    "REJECT_CARD_COMPANY": (403, "결제 승인이 거절되었습니다."),
    "PAY_PROCESS_CANCELED": (400, "사용자에 의해 결제가 취소되었습니다."),
    "DUPLICATED_ORDER_ID": (400, "이미 승인 및 취소가 진행된 중복된 주문번호 입니다. 다른 주문번호로 진행해주세요."),
    # The `failure` of an expired payment, as a lookup shows it.
    "EXPIRED_PAYMENT": (403, "결제가 만료되었습니다. 다시 시도해주세요."),
    # The transactions list (reconciliation reference §A4).
    "INVALID_DATE": (400, "날짜 데이터가 잘못 되었습니다."),
    "INVALID_TRANSACTION_KEY": (400, "잘못된 페이징 키 입니다."),
    "EXCEED_MAX_QUERY_LIMIT": (400, "최대 조회 개수를 초과했습니다."),
}

# Toss documents no code for a confirm whose amount differs from the authorised one;
# the sandbox answers 400 INVALID_REQUEST with this message.
AMOUNT_MISMATCH_MESSAGE = "결제 금액이 일치하지 않습니다."


class TossError(Exception):
    """A refusal the API answers as `{"code", "message"}` with the code's HTTP status."""

    def __init__(self, code: str, message: str | None = None) -> None:
        status, default = ERRORS[code]
        super().__init__(code)
        self.code = code
        self.status = status
        self.message = message or default

    def reply(self) -> Reply:
        return error_reply(self.code, self.message)


def message_for(code: str) -> str:
    return ERRORS[code][1]


def error_reply(code: str, message: str | None = None) -> Reply:
    status, default = ERRORS[code]
    return Reply.json(status, {"code": code, "message": message or default})

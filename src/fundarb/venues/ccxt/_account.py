"""The account of :class:`~fundarb.venues.ccxt.CcxtExchangeClient`: positions (signed,
base units), leverage, balance, our fills, and the funding settled on our positions."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from fundarb.errors import (
    InvalidOrderError,
)
from fundarb.logs import log_event
from fundarb.venues.accounts import Balance, FundingPayment, Position
from fundarb.venues.ccxt._core import Core, logger
from fundarb.venues.ccxt._errors import (
    BadPayloadError,
)
from fundarb.venues.ccxt._parse import (
    as_mapping,
    exact,
    info_of,
    number,
    parse_balance,
    parse_fill,
    timestamp,
)
from fundarb.venues.ccxt.limiter import Priority
from fundarb.venues.orders import (
    Fill,
)

__all__ = ["Account"]

_ZERO = Decimal(0)


class Account(Core):
    """Positions, leverage, balance, fills and funding payments of the client's account."""

    async def get_positions(self) -> Sequence[Position]:
        """Open (non-zero) positions, signed base units."""
        await self._ensure_markets()
        raw = await self._call(self._exchange.fetch_positions, priority=Priority.POLL)
        if not isinstance(raw, list):
            raise BadPayloadError("positions: expected a list", venue=self._venue)
        positions = (self._position(row) for row in raw)
        return [p for p in positions if p is not None and p.quantity != 0]

    async def get_position(self, symbol: str) -> Position | None:
        market, _ = await self._market(symbol)
        raw = await self._call(
            lambda: self._exchange.fetch_positions([market]), priority=Priority.POLL, symbol=market
        )
        if not isinstance(raw, list):
            raise BadPayloadError("positions: expected a list", venue=self._venue, symbol=market)
        for row in raw:
            position = self._position(row)
            if position is not None and position.symbol == market and position.quantity != 0:
                return position
        return None

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
            raise InvalidOrderError(
                f"leverage must be an int of 1 or more, got {leverage!r}", venue=self._venue
            )
        market, _ = await self._market(symbol)
        raw = await self._call(
            lambda: self._exchange.set_leverage(leverage, market),
            priority=Priority.ORDER,
            symbol=market,
        )
        confirmed = number(as_mapping(raw, "leverage").get("leverage"))
        if confirmed is None:
            raise BadPayloadError("leverage: no leverage in the answer", venue=self._venue)
        return int(confirmed)

    async def get_balance(self) -> Balance:
        """The account in its settlement asset, from the venue's own account payload where
        ccxt's unified balance loses it: Binance USD-M's ``total*`` fields, Bybit's unified
        account (USD totals), OKX's trading account (the USDT, USDC or USD detail),
        Hyperliquid's perp account (``clearinghouseState``); else ccxt's USDT, USDC or USD
        balance."""
        raw = as_mapping(
            await self._call(self._exchange.fetch_balance, priority=Priority.POLL), "balance"
        )
        balance = parse_balance(raw)
        if balance is None:
            raise BadPayloadError("balance: no USDT, USDC or USD balance", venue=self._venue)
        return balance

    async def get_fills(
        self,
        symbol: str | None = None,
        *,
        order_ids: Sequence[str] | None = None,
        since: datetime | None = None,
    ) -> Sequence[Fill]:
        """Our fills, oldest first (from ``since`` on, when given: the venue's clock). The
        venue needs a symbol: ``symbol``, else those the ``order_ids`` were placed on by this
        client."""
        if order_ids is not None and (
            isinstance(order_ids, str) or not all(isinstance(i, str) for i in order_ids)
        ):
            raise InvalidOrderError("order_ids must be a sequence of str", venue=self._venue)
        if symbol is not None:
            markets = [(await self._market(symbol))[0]]
        elif order_ids:
            missing = [i for i in order_ids if i not in self._symbol_of_order]
            if missing:
                raise InvalidOrderError(
                    f"the symbol of orders {missing} is unknown: pass symbol", venue=self._venue
                )
            markets = sorted({(await self._market(self._symbol_of_order[i]))[0] for i in order_ids})
        else:
            raise InvalidOrderError("get_fills needs a symbol or order ids", venue=self._venue)
        wanted = set(order_ids) if order_ids is not None else None
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        fills: list[Fill] = []
        for market in markets:
            _, spec = await self._market(market)
            raw = await self._call(
                lambda m=market: self._exchange.fetch_my_trades(m, since_ms),  # type: ignore[misc]
                priority=Priority.POLL,
                symbol=market,
            )
            if not isinstance(raw, list):
                raise BadPayloadError("trades: expected a list", venue=self._venue, symbol=market)
            for row in raw:
                order_id = str(as_mapping(row, "trade").get("order") or "")
                if wanted is not None and order_id not in wanted:
                    continue
                fills.append(
                    parse_fill(
                        self._venue,
                        row,
                        spec.contract_size,
                        self._client_id_of_order.get(order_id, ""),
                    )
                )
        return sorted(fills, key=lambda f: f.timestamp)

    async def get_funding_payments(
        self, symbol: str | None = None, *, since: datetime | None = None
    ) -> Sequence[FundingPayment]:
        """Funding settled on our positions (``symbol``'s, or every symbol's), oldest first,
        after ``since`` when given (the venue's clock): ``amount`` received positive
        (ccxt ``fetch_funding_history``), as the simulated venue answers.

        The rate and mark price of each payment are read from the venue's funding-rate
        history (``fetch_funding_rate_history``) at the payment's time, and the position
        from them (amount = -position x mark x rate); without a matching print they are 0
        (logged). Unique per venue, symbol, funding time and position side."""
        market = (await self._market(symbol))[0] if symbol is not None else None
        if market is None:
            await self._ensure_markets()
        since_ms = int(since.timestamp() * 1000) if since is not None else None
        raw = await self._call(
            lambda: self._exchange.fetch_funding_history(market, since_ms),
            priority=Priority.POLL,
            symbol=market,
        )
        if not isinstance(raw, list):
            raise BadPayloadError("funding history: expected a list", venue=self._venue)
        by_symbol: dict[str, list[tuple[datetime, Decimal]]] = {}
        for row in raw:
            row = as_mapping(row, "funding payment")
            when = timestamp(row.get("timestamp"))
            amount = exact(row.get("amount"), info_of(row), "income")
            row_symbol = row.get("symbol")
            if when is None or amount is None or not isinstance(row_symbol, str):
                raise BadPayloadError(
                    "funding payment: no time, amount or symbol", venue=self._venue
                )
            if since is None or when > since:
                by_symbol.setdefault(row_symbol, []).append((when, amount))
        payments = []
        for row_symbol, rows in sorted(by_symbol.items()):
            prints = await self._funding_prints(row_symbol, min(when for when, _ in rows))
            for when, amount in rows:
                rate, mark = prints.get(when, (_ZERO, _ZERO))
                if not (rate and mark):
                    log_event(
                        logger,
                        logging.WARNING,
                        "ccxt.funding.no_print",
                        venue=self._venue,
                        symbol=row_symbol,
                        funding_time=when,
                    )
                payments.append(
                    FundingPayment(
                        venue=self._venue,
                        symbol=row_symbol,
                        funding_time=when,
                        rate=rate,
                        position_quantity=-amount / (rate * mark) if rate and mark else _ZERO,
                        mark_price=mark,
                        amount=amount,
                    )
                )
        return sorted(payments, key=lambda p: (p.funding_time, p.symbol))

    async def _funding_prints(
        self, market: str, first: datetime
    ) -> dict[datetime, tuple[Decimal, Decimal]]:
        """The venue's funding rate and mark price at each funding time from ``first`` on."""
        if not (getattr(self._exchange, "has", None) or {}).get("fetchFundingRateHistory"):
            return {}
        first_ms = int(first.timestamp() * 1000)
        history = await self._call(
            lambda: self._exchange.fetch_funding_rate_history(market, first_ms, 1000),
            priority=Priority.POLL,
            symbol=market,
        )
        prints: dict[datetime, tuple[Decimal, Decimal]] = {}
        for raw in history if isinstance(history, list) else ():
            entry = as_mapping(raw, "funding rate")
            when = timestamp(entry.get("timestamp"))
            info = info_of(entry)
            rate = exact(entry.get("fundingRate"), info, "fundingRate")
            mark = number(info.get("markPrice")) or number(entry.get("markPrice"))
            if when is not None and rate is not None and mark is not None:
                prints[when] = (rate, mark)
        return prints

    def _position(self, raw: object) -> Position | None:
        row = as_mapping(raw, "position")
        info = info_of(row)
        symbol = row.get("symbol")
        if not isinstance(symbol, str):
            raise BadPayloadError("position: no symbol", venue=self._venue)
        spec = self._specs.get(symbol)
        contract_size = number(row.get("contractSize")) or (
            spec.contract_size if spec is not None else Decimal(1)
        )
        signed = number(info.get("positionAmt"))  # Binance: signed, exact
        if signed is not None:
            quantity = signed * contract_size
        else:
            contracts = number(row.get("contracts")) or _ZERO
            sign = -1 if row.get("side") == "short" else 1
            quantity = sign * contracts * contract_size
        leverage = number(row.get("leverage"))
        return Position(
            symbol=symbol,
            quantity=quantity,
            entry_price=exact(row.get("entryPrice"), info, "entryPrice") or _ZERO,
            mark_price=exact(row.get("markPrice"), info, "markPrice") or _ZERO,
            liquidation_price=exact(row.get("liquidationPrice"), info, "liquidationPrice") or None,
            margin=number(row.get("initialMargin")) or _ZERO,
            leverage=int(leverage) if leverage is not None else 1,
            unrealized_pnl=exact(row.get("unrealizedPnl"), info, "unRealizedProfit") or _ZERO,
        )

/* ChatJu demo frontend: plain JavaScript against the service's own JSON API.
 *
 * No framework, no build step. Tokens live in localStorage; every call sends
 * `Authorization: Bearer <access token>`; a 401 refreshes once and retries. A
 * refresh spends the refresh token and answers a new pair: both are stored. Each page is named by <body data-page>, and the server-side
 * settings come in <body data-config> (JSON).
 */
(function () {
  "use strict";

  const body = document.body;
  const config = JSON.parse(body.dataset.config);
  const STORE = {
    access: "chatju.demo.access",
    refresh: "chatju.demo.refresh",
    orders: "chatju.demo.orders",
    confirmed: "chatju.demo.confirmed",
  };
  const TOSS_SDK = "https://js.tosspayments.com/v2/standard"; // https://docs.tosspayments.com/sdk/v2/js
  const STRIPE_JS = "https://js.stripe.com/v3/"; // https://docs.stripe.com/js/including
  const STRIPE_CURRENCY = "USD"; // what the Stripe button charges (the product's price in it)
  const WAITING = new Set(["PENDING", "PROCESSING"]); // not final yet: poll
  const PAYABLE = new Set(["PENDING", "FAILED"]); // may go (back) to the checkout
  const PAID = new Set(["PAID", "PARTIALLY_REFUNDED", "REFUNDED"]);
  const POLL_MS = 1000;
  const POLL_FOR_MS = 60000;
  const HISTORY_PAGE = 10; // orders per page of the history (GET /payment/history/me?limit=)
  const CLIENT_SECRET_WAIT_MS = 30000; // after a 202 from the Stripe create: how long to wait for the intent
  const PROVIDERS = { toss: "토스 Toss", stripe: "Stripe" };
  // What each status means to the customer (docs/integration.md, "What each status means").
  const STATUS_LABELS = {
    PENDING: "결제 대기 Awaiting payment",
    PROCESSING: "처리 중 Processing",
    PAID: "결제 완료 Paid",
    FAILED: "결제 실패 Failed",
    CANCELED: "취소됨 Canceled",
    EXPIRED: "만료됨 Expired",
    PARTIALLY_REFUNDED: "부분 환불 Partly refunded",
    REFUNDED: "환불됨 Refunded",
  };
  const METHODS = {
    card: "카드 Card",
    virtual_account: "가상계좌 Virtual account",
    easy_pay: "간편결제 Easy pay",
    transfer: "계좌이체 Transfer",
    mobile: "휴대폰 Mobile",
  };

  const $ = (selector) => document.querySelector(selector);
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  function setText(selector, text) {
    $(selector).textContent = text === null || text === undefined || text === "" ? "—" : String(text);
  }

  function say(text, kind) {
    const message = $("#message");
    message.textContent = text;
    message.className = kind || "";
  }

  // ---- Tokens and API calls --------------------------------------------------

  const tokens = {
    get access() {
      return localStorage.getItem(STORE.access);
    },
    get refresh() {
      return localStorage.getItem(STORE.refresh);
    },
    save(access, refresh) {
      localStorage.setItem(STORE.access, access);
      if (refresh) localStorage.setItem(STORE.refresh, refresh);
    },
    clear() {
      localStorage.removeItem(STORE.access);
      localStorage.removeItem(STORE.refresh);
    },
  };

  const signedIn = () => Boolean(tokens.access || tokens.refresh);

  async function send(method, path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    if (options.token) headers.Authorization = "Bearer " + options.token;
    const init = { method, headers };
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.json);
    }
    let response;
    try {
      response = await fetch(config.apiBase + path, init);
    } catch (error) {
      const message = "서비스에 연결할 수 없습니다. The service could not be reached.";
      return { status: 0, ok: false, data: { error: { code: "NETWORK_ERROR", message } } };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (error) {
      data = null;
    }
    return { status: response.status, ok: response.ok, data };
  }

  let refreshing = null;

  // One refresh at a time, however many calls got a 401 together. The refresh token is
  // spent: store the new pair. Another tab may have refreshed meanwhile (the server gives
  // both the same pair within a few seconds); its stored pair is then the one to use.
  function refreshTokens() {
    if (!refreshing) {
      const spent = tokens.refresh;
      refreshing = send("POST", "/auth/refresh", { token: spent })
        .then((result) => {
          if (result.ok) {
            tokens.save(result.data.access_token, result.data.refresh_token);
            return true;
          }
          if (tokens.refresh !== spent) return Boolean(tokens.refresh);
          tokens.clear();
          return false;
        })
        .finally(() => {
          refreshing = null;
        });
    }
    return refreshing;
  }

  // Sign out: end this sign-in (or every sign-in of the account) on the server, so its
  // tokens stop working, then forget them here.
  async function signOut(everywhere) {
    if (tokens.access || tokens.refresh) await api("POST", "/auth/logout", { json: { everywhere } });
    tokens.clear();
  }

  // A call as the signed-in user: on 401, refresh once, then retry once.
  async function api(method, path, options = {}) {
    let result = await send(method, path, { ...options, token: tokens.access });
    if (result.status === 401 && tokens.refresh && (await refreshTokens())) {
      result = await send(method, path, { ...options, token: tokens.access });
    }
    return result;
  }

  function errorText(result) {
    const error = result.data && result.data.error;
    if (!error) return `HTTP ${result.status}`;
    const fields = (error.details && error.details.fields) || [];
    const detail = fields.length ? ` (${fields.map((f) => `${f.field}: ${f.message}`).join("; ")})` : "";
    return `${error.code}: ${error.message}${detail}`;
  }

  function uuid() {
    if (crypto.randomUUID) return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16)); // randomUUID needs a secure context
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  // ---- Formatting ---------------------------------------------------------

  // Amounts are integers in the currency's minor unit as the gateways count it
  // (https://docs.stripe.com/currencies#zero-decimal): whole units for zero-decimal
  // currencies (KRW 13000 is ₩13,000, JPY 1500 is ¥1,500), thousandths for the
  // three-decimal ones, cents for the rest (USD 1000 is $10.00).
  const ZERO_DECIMAL = new Set([
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
  ]);
  const THREE_DECIMAL = new Set(["BHD", "JOD", "KWD", "OMR", "TND"]);

  function money(amount, currency, locale = "ko-KR") {
    const digits = ZERO_DECIMAL.has(currency) ? 0 : THREE_DECIMAL.has(currency) ? 3 : 2;
    const options = { style: "currency", currency, minimumFractionDigits: digits, maximumFractionDigits: digits };
    return new Intl.NumberFormat(locale, options).format(amount / 10 ** digits);
  }

  // "USD $10.00": the code, then the amount as an English-speaking customer reads it.
  const priceTag = (amount, currency) => `${currency} ${money(amount, currency, "en-US")}`;

  function failureText(failure) {
    const decline = failure.declineCode ? ` (${failure.declineCode})` : "";
    return `${failure.code}${decline}: ${failure.message}`;
  }

  const when = (iso) => (iso ? new Date(iso).toLocaleString("ko-KR") : null);
  const orderUrl = (orderId) => `${config.home}orders/${encodeURIComponent(orderId)}`;

  // ---- Orders this browser created (with what the checkout needs) -----------

  const orders = {
    all() {
      try {
        return JSON.parse(localStorage.getItem(STORE.orders)) || [];
      } catch (error) {
        return [];
      }
    },
    find(orderId) {
      return this.all().find((order) => order.orderId === orderId) || null;
    },
    // Stripe's return page finds an order by its intent id.
    byIntent(paymentIntentId) {
      return this.all().find((order) => order.paymentIntentId === paymentIntentId) || null;
    },
    remember(created, userId) {
      const order = {
        userId,
        provider: created.provider,
        orderId: created.orderId,
        orderName: created.orderName,
        amount: created.amount,
        currency: created.currency,
        createdAt: created.createdAt,
        // Toss's checkout needs these again for another try; GET /payment/<orderId> does not return them.
        clientKey: created.clientKey,
        customerKey: created.customerKey,
        successUrl: created.successUrl,
        failUrl: created.failUrl,
        // Stripe: the intent id (null after a 202 until the intent exists) and the key. Never the
        // clientSecret: GET /payment/<orderId> gives it to the owner for as long as it is needed.
        paymentIntentId: created.paymentIntentId,
        publishableKey: created.publishableKey,
      };
      const rest = this.all().filter((o) => o.orderId !== order.orderId);
      localStorage.setItem(STORE.orders, JSON.stringify([order, ...rest].slice(0, 10)));
      return order;
    },
    update(orderId, changes) {
      const all = this.all();
      const order = all.find((o) => o.orderId === orderId);
      if (!order) return null;
      Object.assign(order, changes);
      localStorage.setItem(STORE.orders, JSON.stringify(all));
      return order;
    },
  };

  // ---- The checkout: the sandbox's hosted page, or Toss's payment window -----

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error(`Could not load ${src}`));
      document.head.appendChild(script);
    });
  }

  async function openCheckout(order) {
    const checkout = config.tossCheckout;
    if (checkout.mode === "sandbox") {
      const query = new URLSearchParams({
        clientKey: order.clientKey,
        customerKey: order.customerKey,
        orderId: order.orderId,
        orderName: order.orderName,
        amount: String(order.amount),
        successUrl: order.successUrl,
        failUrl: order.failUrl,
      });
      window.location.assign(`${checkout.url}?${query}`);
      return;
    }
    if (!window.TossPayments) await loadScript(TOSS_SDK);
    // https://docs.tosspayments.com/sdk/v2/js#paymentrequestpayment
    const payment = window.TossPayments(order.clientKey).payment({ customerKey: order.customerKey });
    await payment.requestPayment({
      method: "CARD",
      amount: { currency: "KRW", value: order.amount },
      orderId: order.orderId,
      orderName: order.orderName,
      successUrl: order.successUrl,
      failUrl: order.failUrl,
    });
  }

  // Stripe: the sandbox's hosted card page (it stands in for Elements), or the Payment Element
  // mounted in this page. Either way the customer comes back to /demo/stripe/return.
  async function openStripeCheckout(clientSecret, publishableKey) {
    const checkout = config.stripeCheckout;
    const returnUrl = new URL(config.stripeReturn, window.location.origin).href;
    if (checkout.mode === "sandbox") {
      const query = new URLSearchParams({ client_secret: clientSecret, key: publishableKey, return_url: returnUrl });
      window.location.assign(`${checkout.url}?${query}`);
      return;
    }
    await mountPaymentElement(clientSecret, publishableKey, returnUrl);
  }

  let stripeCheckoutMounted = false;

  // https://docs.stripe.com/payments/accept-a-payment?platform=web&ui=elements
  async function mountPaymentElement(clientSecret, publishableKey, returnUrl) {
    if (stripeCheckoutMounted) return;
    if (!window.Stripe) await loadScript(STRIPE_JS);
    const stripe = window.Stripe(publishableKey);
    const elements = stripe.elements({ clientSecret });
    const paymentElement = elements.create("payment");
    $("#stripe-checkout").hidden = false;
    paymentElement.mount("#payment-element");
    stripeCheckoutMounted = true;
    const submit = $("#stripe-submit");
    $("#stripe-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      $("#stripe-error").textContent = "";
      // On success (and for 3D Secure) Stripe sends the browser to return_url; the promise
      // resolves only with an error the customer can act on: a declined card, an incomplete form.
      const { error } = await stripe.confirmPayment({ elements, confirmParams: { return_url: returnUrl } });
      if (error) {
        const known = error.type === "card_error" || error.type === "validation_error";
        $("#stripe-error").textContent = known ? error.message : "예상치 못한 오류입니다. An unexpected error occurred.";
      }
      submit.disabled = false;
    });
  }

  const checkoutError = (error) => (error && error.code ? `${error.code}: ${error.message}` : String(error));

  // A button that sends the same order to the checkout again (another card, another try).
  // Toss's checkout needs the create answer's clientKey, customerKey and URLs, which only the
  // browser that created the order kept. Stripe's needs the intent's clientSecret, which
  // GET /payment/<orderId> gives the owner while the order is unpaid (same intent, another card).
  function offerRetry(orderId, payment = null) {
    const order = orders.find(orderId);
    const button = $("#retry");
    const stripe = payment && payment.provider === "stripe";
    if (stripe ? !payment.clientSecret : !order) {
      const unavailable = $("#retry-unavailable");
      if (unavailable && !stripe) unavailable.hidden = false;
      return;
    }
    if (payment && payment.status === "FAILED") button.textContent = "다른 카드로 결제 (Try another card)";
    button.hidden = false;
    button.addEventListener("click", async () => {
      button.disabled = true;
      try {
        if (!stripe) return await openCheckout(order);
        const key = (order && order.publishableKey) || config.stripePublishableKey;
        await openStripeCheckout(payment.clientSecret, key);
        button.hidden = true; // the Payment Element is on the page now
      } catch (error) {
        say(checkoutError(error), "error");
        button.disabled = false;
      }
    });
  }

  // ---- The payment, readably ----------------------------------------------

  function renderPayment(payment) {
    $("#payment").hidden = false;
    showStatus($("#status"), payment.status);
    const link = $("#p-order-id");
    link.textContent = payment.orderId;
    link.href = orderUrl(payment.orderId);
    setText("#p-order-name", payment.orderName);
    setText("#p-amount", money(payment.amount, payment.currency));
    setText("#p-refunded", payment.refundedAmount ? money(payment.refundedAmount, payment.currency) : null);
    setText("#p-provider", PROVIDERS[payment.provider] || payment.provider);
    setText("#p-method", METHODS[payment.method] || payment.method);
    const card = payment.card && [payment.card.brand, payment.card.last4 && `•••• ${payment.card.last4}`];
    setText("#p-card", card && card.filter(Boolean).join(" "));
    renderReceipt(payment.receiptUrl);
    setText("#p-failure", payment.failure && failureText(payment.failure));
    setText("#p-flags", payment.flags && payment.flags.join(", "));
    setText("#p-paid-at", when(payment.paidAt));
    setText("#p-created-at", when(payment.createdAt));
    setText("#p-updated-at", when(payment.updatedAt));
    $("#p-json").textContent = JSON.stringify(payment, null, 2);
  }

  function showStatus(element, status) {
    element.textContent = STATUS_LABELS[status] || status;
    element.dataset.status = status;
  }

  // Progress while the page waits for an outcome: no button is offered meanwhile, so nothing can
  // be clicked twice (the retry button appears only with a FAILED outcome).
  function showProgress(text) {
    $("#progress-text").textContent = text;
    $("#progress").hidden = false;
    say("");
  }

  function hideProgress() {
    const progress = $("#progress");
    if (progress) progress.hidden = true;
  }

  function renderReceipt(url) {
    const link = receiptLink(url);
    if (link) $("#p-receipt").replaceChildren(link);
    else $("#p-receipt").textContent = "—";
  }

  // The gateway's receipt page (a new tab), for http(s) addresses only.
  function receiptLink(url) {
    if (!url || !/^https?:\/\//.test(url)) return null;
    const link = document.createElement("a");
    link.href = url;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    link.textContent = "영수증 보기 View receipt";
    return link;
  }

  // Ask GET /payment/<orderId> every second (the first time at once if `now`) until `done(payment)`
  // or `forMs` pass; `show` sees every answer. Returns the last payment seen and whether it is done;
  // a 4xx ends it with the error said (`failed`).
  async function watch(orderId, { done, forMs, show = null, now = false }) {
    const deadline = Date.now() + forMs;
    let payment = null;
    for (let wait = now ? 0 : POLL_MS; Date.now() < deadline; wait = POLL_MS) {
      await sleep(wait);
      const result = await api("GET", `/payment/${encodeURIComponent(orderId)}`);
      if (result.status >= 400 && result.status < 500) {
        say(errorText(result), "error");
        return { payment, done: false, failed: true };
      }
      if (!result.ok) continue; // the network or the service hiccupped: ask again
      payment = result.data;
      if (show) show(payment);
      if (done(payment)) return { payment, done: true, failed: false };
    }
    return { payment, done: false, failed: false };
  }

  function stillAfterAMinute(payment) {
    const status = payment ? STATUS_LABELS[payment.status] : "—";
    say(`1분이 지나도 ${status} 상태입니다. 주문 페이지에서 결과를 확인하세요. ` +
      `Still ${status} after a minute; the order page shows it when it settles.`);
  }

  // Poll while the payment is not final, for at most a minute: the payment once final, else null.
  async function poll(orderId) {
    const { payment, done, failed } = await watch(orderId, {
      done: (p) => !WAITING.has(p.status),
      forMs: POLL_FOR_MS,
      show: renderPayment,
    });
    if (done) return payment;
    if (!failed) stillAfterAMinute(payment);
    return null;
  }

  // ---- Pages --------------------------------------------------------------

  async function indexPage() {
    if (!signedIn()) return showSignIn();
    const me = await api("GET", "/auth/me");
    if (!me.ok) {
      if (me.status === 401) tokens.clear();
      showSignIn();
      say(me.status === 401 ? "다시 로그인하세요. Your session ended; sign in again." : errorText(me), "error");
      return;
    }
    const user = me.data;
    $("#signed-in").hidden = false;
    $("#who").textContent = user.displayName ? `${user.displayName} <${user.email}>` : user.email;
    setText("#readings", user.premiumReadings);
    for (const [selector, everywhere] of [["#sign-out", false], ["#sign-out-everywhere", true]]) {
      $(selector).addEventListener("click", async (event) => {
        event.preventDefault();
        const home = event.currentTarget.href;
        await signOut(everywhere);
        window.location.assign(home);
      });
    }
    $("#history-more").addEventListener("click", () => showHistory(true));
    await Promise.all([showProduct(user), showHistory()]);
  }

  function showSignIn() {
    $("#signed-out").hidden = false;
    const form = $("#sign-in-form");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const email = $("#email").value.trim();
      const button = form.querySelector("button");
      button.disabled = true;
      say("보내는 중… Sending…");
      const result = await send("POST", "/auth/magic-link", { json: { email } });
      button.disabled = false;
      if (result.status !== 202) return say(errorText(result), "error");
      say("");
      form.hidden = true;
      $("#mail-sent-to").textContent = email;
      $("#mail-sent").hidden = false;
    });
  }

  async function showProduct(user) {
    const result = await send("GET", "/products");
    const product = result.ok && result.data.products.find((p) => p.id === "premium_reading");
    if (!product) return say(result.ok ? "판매 중이 아닙니다. The reading is not on sale." : errorText(result), "error");
    const prices = product.prices;
    $("#product-name").textContent = product.name;
    $("#product-price").textContent = Object.keys(prices)
      .map((currency) => money(prices[currency], currency))
      .join(" · ");
    if (prices.KRW) {
      const button = $("#buy-toss");
      button.textContent = `토스로 결제 Buy with Toss (${money(prices.KRW, "KRW")})`;
      button.disabled = false;
      button.addEventListener("click", () => buyWithToss(product, user, button));
    }
    if (prices[STRIPE_CURRENCY]) {
      const button = $("#buy-stripe");
      button.textContent = `Stripe로 결제 Pay with Stripe (${priceTag(prices[STRIPE_CURRENCY], STRIPE_CURRENCY)})`;
      button.disabled = false;
      button.addEventListener("click", () => buyWithStripe(product, STRIPE_CURRENCY, user, button));
    }
  }

  async function buyWithToss(product, user, button) {
    button.disabled = true;
    say("주문을 만드는 중… Creating the order…");
    const result = await api("POST", "/payment/toss/create", {
      json: { productId: product.id },
      headers: { "Idempotency-Key": uuid() }, // one per click: a double request is one order
    });
    if (result.status !== 201) {
      button.disabled = false;
      return say(errorText(result), "error");
    }
    const order = orders.remember(result.data, user.id);
    say("결제창으로 이동합니다… Opening the checkout…");
    try {
      await openCheckout(order);
    } catch (error) {
      say(checkoutError(error), "error");
      button.disabled = false;
      showHistory();
    }
  }

  async function buyWithStripe(product, currency, user, button) {
    button.disabled = true;
    say("주문을 만드는 중… Creating the order…");
    const result = await api("POST", "/payment/stripe/create", {
      json: { productId: product.id, currency },
      headers: { "Idempotency-Key": uuid() }, // one per click: a double request is one order
    });
    if (result.status !== 201 && result.status !== 202) {
      button.disabled = false;
      return say(errorText(result), "error");
    }
    let order = orders.remember(result.data, user.id);
    let clientSecret = result.data.clientSecret;
    if (result.status === 202) {
      // The order exists, its PaymentIntent not yet (Stripe was slow): ask until the secret appears.
      say("Stripe를 기다리는 중… Waiting for Stripe to set up the payment…");
      const { payment, failed } = await watch(order.orderId, {
        done: (p) => Boolean(p.clientSecret) || !WAITING.has(p.status),
        forMs: CLIENT_SECRET_WAIT_MS,
      });
      if (!payment || !payment.clientSecret) {
        button.disabled = false;
        showHistory();
        if (failed) return;
        if (payment && payment.failure) {
          return say(`Stripe가 거절했습니다. Stripe refused it: ${failureText(payment.failure)}`, "error");
        }
        const status = payment ? STATUS_LABELS[payment.status] : "—";
        return say(`Stripe가 아직 준비되지 않았습니다 (${status}). 나중에 주문 페이지에서 결제하세요. ` +
          `Stripe has not set up the payment yet (${status}); pay it from its order page later.`, "error");
      }
      order = orders.update(order.orderId, { paymentIntentId: payment.paymentIntentId }) || order;
      clientSecret = payment.clientSecret;
    }
    say("결제창으로 이동합니다… Opening the checkout…");
    try {
      await openStripeCheckout(clientSecret, order.publishableKey || config.stripePublishableKey);
      if (config.stripeCheckout.mode !== "sandbox") say("카드 정보를 입력하세요. Enter your card below.");
    } catch (error) {
      say(checkoutError(error), "error");
      button.disabled = false;
    }
    showHistory();
  }

  // ---- History: the account's orders from the API, newest first, a page at a time --------

  let historyCursor = null; // nextCursor of the last page shown; null: no more pages

  // The first page again (after a purchase or a cancel), or the next one ("Show more").
  async function showHistory(more = false) {
    const query = new URLSearchParams({ limit: String(HISTORY_PAGE) });
    if (more && historyCursor) query.set("cursor", historyCursor);
    const button = $("#history-more");
    button.disabled = true;
    const result = await api("GET", `/payment/history/me?${query}`);
    button.disabled = false;
    if (!result.ok) return say(errorText(result), "error");
    const rows = $("#history-rows");
    const shown = result.data.payments.map(historyRow);
    if (more) rows.append(...shown);
    else rows.replaceChildren(...shown);
    historyCursor = result.data.nextCursor;
    button.hidden = !historyCursor;
    $("#history-table").hidden = rows.children.length === 0;
    $("#no-orders").hidden = rows.children.length > 0;
  }

  function cell(className, ...content) {
    const td = document.createElement("td");
    td.className = className;
    td.append(...content);
    return td;
  }

  function historyRow(payment) {
    const row = document.createElement("tr");
    row.dataset.orderId = payment.orderId;
    const item = document.createElement("a");
    item.href = orderUrl(payment.orderId);
    item.textContent = payment.orderName;
    const provider = document.createElement("small");
    provider.textContent = ` ${PROVIDERS[payment.provider] || payment.provider}`;
    const status = document.createElement("span");
    status.className = "status";
    showStatus(status, payment.status);
    row.append(
      cell("date", when(payment.createdAt)),
      cell("item", item, provider),
      cell("amount", money(payment.amount, payment.currency)),
      cell("state", status),
      cell("actions", ...historyActions(payment, row))
    );
    return row;
  }

  // A paid order's receipt; a PENDING order's payment page and its cancel.
  function historyActions(payment, row) {
    const actions = [];
    const receipt = PAID.has(payment.status) ? receiptLink(payment.receiptUrl) : null;
    if (receipt) actions.push(receipt);
    if (payment.status === "PENDING") {
      const pay = document.createElement("a");
      pay.href = orderUrl(payment.orderId);
      pay.textContent = "결제하기 Pay";
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "secondary small cancel";
      cancel.textContent = "취소 Cancel";
      cancel.addEventListener("click", async () => {
        const answer = await cancelOrder(payment.orderId, cancel);
        if (answer) row.replaceWith(historyRow(answer));
      });
      actions.push(pay, cancel);
    }
    return actions;
  }

  // POST /payment/<orderId>/cancel: the order as it now stands, or null (the error is said).
  // A 409 INVALID_STATE means the order moved on meanwhile (paid, expired): its details.status says to what.
  async function cancelOrder(orderId, button) {
    button.disabled = true;
    const result = await api("POST", `/payment/${encodeURIComponent(orderId)}/cancel`);
    if (result.ok) {
      say("주문을 취소했습니다. The order is canceled.", "ok");
      return result.data;
    }
    const error = result.data && result.data.error;
    if (result.status === 409 && error && error.code === "INVALID_STATE") {
      const now = STATUS_LABELS[error.details.status] || error.details.status;
      say(`취소할 수 없습니다: 주문이 이미 ${now} 상태입니다. It can no longer be canceled: the order is ${now}.`, "error");
      const fresh = await api("GET", `/payment/${encodeURIComponent(orderId)}`);
      return fresh.ok ? fresh.data : null;
    }
    say(errorText(result), "error");
    button.disabled = false;
    return null;
  }

  async function verifyPage() {
    const token = new URLSearchParams(window.location.search).get("token");
    window.history.replaceState(null, "", window.location.pathname); // the link works once: keep it out of history
    if (!token) return say("이 링크에는 토큰이 없습니다. The link has no token.", "error");
    const result = await send("POST", "/auth/magic-link/verify", { json: { token } });
    if (!result.ok) {
      const error = result.data && result.data.error;
      const message = result.status === 401 && error ? error.message : errorText(result);
      return say(`${message} 새 링크를 요청하세요. Ask for a new link.`, "error");
    }
    tokens.save(result.data.access_token, result.data.refresh_token);
    window.location.replace(config.home);
  }

  // Back from Toss's checkout (?paymentKey=&orderId=&amount=). The order's status is read first,
  // so a reload, the back button or a second tab never confirms twice: only an order still open
  // (PENDING, EXPIRED, or FAILED with an earlier card) whose key this browser has not had answered
  // is confirmed. The server is idempotent as well (the same key answers the same payment).
  async function successPage() {
    const query = new URLSearchParams(window.location.search);
    const [orderId, paymentKey, amount] = ["orderId", "paymentKey", "amount"].map((name) => query.get(name));
    if (!orderId || !paymentKey || !amount) {
      return say("주소에 orderId, paymentKey, amount가 없습니다. The address lacks orderId, paymentKey or amount.", "error");
    }
    if (!signedIn()) return say("로그인이 필요합니다. Sign in in this browser to confirm the payment.", "error");
    showProgress("결제를 확인하는 중… Confirming the payment…");
    const current = await api("GET", `/payment/${encodeURIComponent(orderId)}`);
    if (!current.ok) {
      hideProgress();
      return say(errorText(current), "error");
    }
    if (needsConfirm(current.data, paymentKey)) return confirmTossPayment(orderId, paymentKey, Number(amount));
    if (current.data.status !== "PROCESSING") return showOutcome(current.data, paymentKey);
    renderPayment(current.data); // a confirm already runs (or a deposit is awaited)
    await settle(orderId, paymentKey);
  }

  // Confirmed keys that got an answer: [orderId, paymentKey] pairs, newest first.
  const confirmed = {
    all() {
      try {
        return JSON.parse(localStorage.getItem(STORE.confirmed)) || [];
      } catch (error) {
        return [];
      }
    },
    has(orderId, paymentKey) {
      return this.all().some(([order, key]) => order === orderId && key === paymentKey);
    },
    add(orderId, paymentKey) {
      const pairs = [[orderId, paymentKey], ...this.all()].slice(0, 50);
      localStorage.setItem(STORE.confirmed, JSON.stringify(pairs));
    },
  };

  function needsConfirm(payment, paymentKey) {
    const open = ["PENDING", "EXPIRED", "FAILED"].includes(payment.status);
    return open && !confirmed.has(payment.orderId, paymentKey);
  }

  async function confirmTossPayment(orderId, paymentKey, amount) {
    const result = await api("POST", "/payment/toss/confirm", { json: { paymentKey, orderId, amount } });
    // Any answer but a network failure or a 5xx means the server has seen this key: never send it again.
    if (result.status !== 0 && result.status < 500) confirmed.add(orderId, paymentKey);
    if (result.status === 200) return showOutcome(result.data, paymentKey);
    if (result.status !== 202) {
      hideProgress();
      return say(confirmErrorText(result), "error");
    }
    renderPayment(result.data);
    await settle(orderId, paymentKey);
  }

  // 202: the confirm (or a virtual account's deposit) is still running: poll until it is final.
  async function settle(orderId, paymentKey) {
    showProgress("처리 중… The payment is being processed…");
    const settled = await poll(orderId);
    hideProgress();
    if (settled) showOutcome(settled, paymentKey);
  }

  // What the customer is told when the confirm is refused (docs/integration.md, "Errors").
  function confirmErrorText(result) {
    const error = result.data && result.data.error;
    const code = error && error.code;
    if (code === "NOT_FOUND_PAYMENT_SESSION" || code === "NOT_FOUND_PAYMENT") {
      return `결제 시간이 지났거나 결제 정보가 맞지 않습니다. 다시 결제해 주세요. The checkout expired or does not match; please pay again. (${code})`;
    }
    if (code === "PAYMENT_KEY_MISMATCH") return "이미 다른 결제로 완료된 주문입니다. This order was already paid with another payment.";
    if (code === "INVALID_STATE") return `이 주문은 결제할 수 없습니다 (${STATUS_LABELS[error.details.status]}). This order cannot be paid.`;
    return errorText(result);
  }

  function showOutcome(payment, paymentKey = null) {
    hideProgress();
    renderPayment(payment);
    if (PAID.has(payment.status)) {
      if (paymentKey && payment.paymentKey && payment.paymentKey !== paymentKey) {
        return say("이미 다른 결제로 완료된 주문입니다. This order was already paid with another payment.");
      }
      return say("결제가 완료되었습니다. Payment complete — thank you!", "ok");
    }
    if (payment.status === "PENDING") {
      // Its checkout was answered before (an expired or unknown key): the order is open, pay again.
      say("결제가 완료되지 않았습니다. 다시 결제할 수 있습니다. The payment was not completed; you can pay again.");
      $("#retry").textContent = "다시 결제 (Pay again)";
      return offerRetry(payment.orderId, payment);
    }
    if (payment.status !== "FAILED") return say(`주문 상태 Order status: ${STATUS_LABELS[payment.status]}`);
    const failure = payment.failure || { code: "FAILED", message: "" };
    say(`결제가 거절되었습니다. The payment was refused: ${failureText(failure)}`, "error");
    offerRetry(payment.orderId, payment);
  }

  // Back from Stripe's checkout (?payment_intent=&payment_intent_client_secret=&redirect_status=).
  // The outcome comes to us by webhook, not with this redirect: redirect_status is only shown
  // (what the bank said), and the page asks our API until the order is PAID or FAILED.
  async function stripeReturnPage() {
    const query = new URLSearchParams(window.location.search);
    const intentId = query.get("payment_intent");
    const bankSaid = query.get("redirect_status");
    if (query.has("payment_intent_client_secret")) {
      query.delete("payment_intent_client_secret"); // keep the secret out of the address bar and history
      window.history.replaceState(null, "", `${window.location.pathname}?${query}`);
    }
    if (bankSaid) {
      $("#bank-said-status").textContent = bankSaid;
      $("#bank-said").hidden = false;
    }
    if (!intentId) return say("주소에 payment_intent가 없습니다. The address lacks payment_intent.", "error");
    if (!signedIn()) return say("로그인이 필요합니다. Sign in in this browser to see the payment.", "error");
    const orderId = await stripeOrderId(intentId);
    if (!orderId) return say(`${intentId}로 결제된 주문이 없습니다. No order of yours is paid by ${intentId}.`, "error");
    showProgress("결제를 확인하는 중… Waiting for Stripe to confirm the payment…");
    // Another card on the same intent leaves the order FAILED (the last attempt's outcome) until
    // this attempt's webhook lands. Nothing in the payment JSON tells the attempts apart, so a
    // FAILED that contradicts a "succeeded" redirect is waited out, never shown as this outcome.
    const settled = (p) => PAID.has(p.status) || (p.status === "FAILED" && bankSaid !== "succeeded");
    const { payment, done, failed } = await watch(orderId, {
      done: settled,
      forMs: POLL_FOR_MS,
      show: renderPayment,
      now: true,
    });
    hideProgress();
    if (failed) return;
    if (done || (payment && payment.status === "FAILED")) return showStripeOutcome(payment);
    stillAfterAMinute(payment);
  }

  // The order this browser created for the intent; else the account's recent payments.
  async function stripeOrderId(intentId) {
    const known = orders.byIntent(intentId);
    if (known) return known.orderId;
    const result = await api("GET", "/payment/history/me?provider=stripe&limit=100");
    const payments = (result.ok && result.data && result.data.payments) || [];
    const found = payments.find((p) => p.paymentIntentId === intentId);
    return found ? found.orderId : null;
  }

  function showStripeOutcome(payment) {
    renderPayment(payment);
    if (PAID.has(payment.status)) return say("결제가 완료되었습니다. Payment complete — thank you!", "ok");
    const failure = payment.failure || { code: "FAILED", message: "" };
    setText("#f-code", failure.code);
    setText("#f-decline-code", failure.declineCode);
    setText("#f-message", failure.message);
    $("#stripe-failure").hidden = false;
    say(`결제가 거절되었습니다. The payment was refused: ${failureText(failure)}`, "error");
    offerRetry(payment.orderId, payment);
  }

  async function failPage() {
    const query = new URLSearchParams(window.location.search);
    const orderId = query.get("orderId");
    setText("#fail-code", query.get("code"));
    setText("#fail-message", query.get("message"));
    setText("#fail-order", orderId);
    if (!orderId) return;
    const link = document.createElement("a");
    link.href = orderUrl(orderId);
    link.textContent = orderId;
    $("#fail-order").replaceChildren(link);
    const result = signedIn() ? await api("GET", `/payment/${encodeURIComponent(orderId)}`) : null;
    if (result && result.ok) setText("#fail-status", result.data.status);
    const payment = result && result.ok ? result.data : null;
    if (!payment || PAYABLE.has(payment.status)) offerRetry(orderId, payment);
  }

  async function orderPage() {
    if (!signedIn()) return say("로그인이 필요합니다. Sign in to see the order.", "error");
    const orderId = body.dataset.orderId;
    const result = await api("GET", `/payment/${encodeURIComponent(orderId)}`);
    if (!result.ok) return say(errorText(result), "error");
    const payment = result.data;
    renderPayment(payment);
    if (PAYABLE.has(payment.status)) offerRetry(orderId, payment);
    if (payment.status === "PENDING") offerCancel(orderId);
    if (!WAITING.has(payment.status)) return;
    const settled = await poll(orderId);
    if (settled && !PAYABLE.has(settled.status)) $("#retry").hidden = true; // paid meanwhile
    if (settled && settled.status !== "PENDING") $("#cancel").hidden = true;
  }

  function offerCancel(orderId) {
    const button = $("#cancel");
    button.hidden = false;
    button.addEventListener("click", async () => {
      const payment = await cancelOrder(orderId, button);
      if (!payment) return;
      renderPayment(payment);
      button.hidden = true;
      $("#retry").hidden = true;
    });
  }

  const pages = {
    index: indexPage,
    verify: verifyPage,
    success: successPage,
    fail: failPage,
    order: orderPage,
    stripe_return: stripeReturnPage,
  };
  Promise.resolve()
    .then(pages[body.dataset.page])
    .catch((error) => say(`Unexpected error: ${error}`, "error"));
})();

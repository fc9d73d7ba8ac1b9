/* The web chat page: send messages and button actions, keep the transcript in localStorage,
   fetch replies that came while the page was closed, then listen for more over SSE. */
(function () {
  "use strict";

  var STORE = "lawbot-chat-v1";
  var BIG = "lawbot-big-text";
  var KEEP = 200; // transcript items kept on the phone
  var RETRIES = [1000, 3000]; // waits before resending a message whose answer was lost

  var root = document.getElementById("chat");
  var log = document.getElementById("log");
  var form = document.getElementById("ask");
  var input = document.getElementById("text");
  var send = document.getElementById("send");
  var notice = document.getElementById("notice");
  var big = document.getElementById("big");
  var T = JSON.parse(root.getAttribute("data-texts"));
  var csrf = root.getAttribute("data-csrf");
  var owner = root.getAttribute("data-owner");
  var village = root.getAttribute("data-village") || null;
  var maxChars = parseInt(root.getAttribute("data-max"), 10);
  var forgetYes = root.getAttribute("data-forget");
  var cleared = root.getAttribute("data-cleared");
  var items = load();
  var busy = false;
  var pending = null; // {text, id}: a message not yet answered keeps its id for the resend

  function load() {
    try {
      var stored = JSON.parse(localStorage.getItem(STORE) || "null");
      if (stored && stored.owner === owner && Array.isArray(stored.items)) return stored.items;
    } catch (e) { /* unreadable storage: start afresh */ }
    return [];
  }

  function save() {
    items = items.slice(-KEEP);
    try {
      localStorage.setItem(STORE, JSON.stringify({ owner: owner, items: items }));
    } catch (e) { /* storage full or off: the chat still works */ }
  }

  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  function show(message) {
    notice.textContent = message || "";
    notice.hidden = !message;
  }

  function render(item) {
    var li = document.createElement("li");
    li.className = item.who;
    var p = document.createElement("p");
    p.textContent = item.text;
    li.appendChild(p);
    if (item.buttons && item.buttons.length) {
      var row = document.createElement("div");
      row.className = "choices";
      item.buttons.forEach(function (b) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "choice";
        button.textContent = b.label;
        button.setAttribute("data-action", b.action);
        row.appendChild(button);
      });
      li.appendChild(row);
    }
    log.appendChild(li);
    window.scrollTo(0, document.documentElement.scrollHeight); // the dock stays below it
    return li;
  }

  function add(item) {
    items.push(item);
    save();
    return render(item);
  }

  function addReplies(replies) {
    (replies || []).forEach(function (r) {
      add({ who: "bot", text: r.text, buttons: r.buttons || [] });
    });
  }

  function request(method, path, body) {
    var headers = { "X-CSRF-Token": csrf };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method: method,
      headers: headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var error = new Error(data.message || T.internal);
          error.status = response.status;
          throw error;
        }
        return data;
      });
    }, function () {
      var error = new Error(T.network);
      error.status = 0;
      throw error;
    });
  }

  function wait(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // Resend after a lost answer or a 503: the same message id is answered once.
  function withRetries(attempt) {
    return attempt().catch(function (error) {
      var tries = RETRIES.slice();
      function again(err) {
        if ((err.status !== 0 && err.status !== 503) || !tries.length) throw err;
        return wait(tries.shift()).then(attempt).catch(again);
      }
      return again(error);
    });
  }

  function setBusy(on) {
    busy = on;
    send.disabled = on;
    send.textContent = on ? T.sending : T.send;
  }

  function sendText(text, shown) {
    if (busy) return;
    if (!text.trim()) { show(T.empty); return; }
    if (text.length > maxChars) { show(T.too_long); return; }
    show("");
    if (!pending || pending.text !== text) pending = { text: text, id: newId() };
    var body = { text: text, message_id: pending.id };
    if (village) body.village = village;
    var bubble = render({ who: "me pending", text: shown || text });
    setBusy(true);
    withRetries(function () { return request("POST", "/chat/api/messages", body); })
      .then(function (data) {
        bubble.remove();
        pending = null;
        village = null; // bound with the first message
        if (input.value === text) input.value = "";
        add({ who: "me", text: shown || text });
        addReplies(data.replies);
      }, function (error) {
        bubble.remove();
        if (!shown) input.value = text;
        show(error.message);
      })
      .then(function () { setBusy(false); });
  }

  function press(button) {
    if (busy) return;
    var action = button.getAttribute("data-action");
    show("");
    setBusy(true);
    request("POST", "/chat/api/actions", { action: action })
      .then(function (data) {
        if (action === forgetYes) {
          items = [];
          log.textContent = "";
          save();
          addReplies(data.replies);
          add({ who: "bot", text: cleared });
          return;
        }
        add({ who: "me", text: button.textContent });
        addReplies(data.replies);
      }, function (error) { show(error.message); })
      .then(function () { setBusy(false); });
  }

  function listen() {
    if (!window.EventSource) return;
    var source = new EventSource("/chat/api/stream?t=" + encodeURIComponent(csrf));
    source.addEventListener("reply", function (event) {
      try { addReplies([JSON.parse(event.data)]); } catch (e) { /* a broken event */ }
    });
  }

  function setBig(on) {
    document.documentElement.classList.toggle("big", on);
    big.setAttribute("aria-pressed", on ? "true" : "false");
    try { localStorage.setItem(BIG, on ? "1" : "0"); } catch (e) { /* not kept */ }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    sendText(input.value);
  });
  input.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendText(input.value);
    }
  });
  log.addEventListener("click", function (event) {
    var button = event.target.closest(".choice");
    if (button) press(button);
  });
  document.querySelector(".menu nav").addEventListener("click", function (event) {
    var link = event.target.closest(".link");
    if (link) sendText(link.getAttribute("data-send"), link.textContent);
  });
  big.addEventListener("click", function () {
    setBig(big.getAttribute("aria-pressed") !== "true");
  });

  try { setBig(localStorage.getItem(BIG) === "1"); } catch (e) { setBig(false); }
  items.forEach(render);
  save();
  request("GET", "/chat/api/messages")
    .then(function (data) { addReplies(data.replies); }, function (error) { show(error.message); })
    .then(listen);
}());

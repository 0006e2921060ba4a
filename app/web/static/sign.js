// Cachet's signing page: the recipient's side of an envelope, on the recipient API only.
// Plain JavaScript, no build step, no dependency. Every word comes from the catalogue the
// server wrote into the page (#cachet-config); nothing from the API is ever parsed as HTML.
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("cachet-config").textContent);
  var main = document.getElementById("main");
  var ENDED = ["declined", "canceled", "expired", "failed"];
  var POLL_MS = 1000;

  var state = {
    token: decodeURIComponent(location.pathname.split("/").pop() || ""),
    session: null,
    view: null,
    viewer: { document: 0, page: 1, zoom: 1 },
  };

  // --- words -------------------------------------------------------------------------------

  function t(key, values) {
    var text = config.strings[key];
    if (text === undefined) return key;
    return text.replace(/\{(\w+)\}/g, function (whole, name) {
      return values && values[name] !== undefined ? String(values[name]) : whole;
    });
  }

  // A problem (RFC 9457) in words: the catalogue's sentence for its code when there is one.
  function problemText(problem) {
    if (!problem) return t("error_generic");
    var key = "error_" + problem.code;
    if (config.strings[key] !== undefined) return t(key, problem);
    return problem.detail || t("error_generic");
  }

  // --- DOM ---------------------------------------------------------------------------------

  // h("button", {type: "button", onclick: f}, "Sign"): attributes, listeners and children;
  // text is always text.
  function h(tag, attributes, children) {
    var element = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (name) {
      var value = attributes[name];
      if (value === null || value === undefined || value === false) return;
      if (name.indexOf("on") === 0) element.addEventListener(name.slice(2), value);
      else if (name === "className") element.className = value;
      else element.setAttribute(name, value === true ? "" : value);
    });
    [].concat(children === undefined ? [] : children).forEach(function (child) {
      if (child === null || child === undefined || child === false) return;
      element.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return element;
  }

  // Each new page moves the focus to its heading, so that a screen reader announces where
  // the recipient is now (a later step of the ceremony: that step's heading).
  function show(children, heading) {
    main.replaceChildren.apply(main, [].concat(children).filter(Boolean));
    heading = heading || main.querySelector("h1");
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
    }
  }

  function alertBox() {
    return h("p", { className: "alert", role: "alert", hidden: true });
  }

  function say(box, text) {
    box.textContent = text || "";
    box.hidden = !text;
  }

  function message(headingKey, textKey) {
    show([h("h1", {}, t(headingKey)), h("p", {}, t(textKey))]);
  }

  // --- the API -------------------------------------------------------------------------------

  function call(method, path, body) {
    var headers = { Accept: "application/json" };
    if (state.session) headers.Authorization = "Bearer " + state.session;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    }).then(
      function (response) {
        var type = response.headers.get("Content-Type") || "";
        var read = type.indexOf("json") >= 0 ? response.json() : Promise.resolve(null);
        return read.then(function (data) {
          return { status: response.status, ok: response.ok, data: data, response: response };
        });
      },
      function () {
        return { status: 0, ok: false, data: { code: "network" } };
      }
    );
  }

  // A session lives while it is used; one that expired is opened again from the link.
  function api(method, path, body) {
    return call(method, path, body).then(function (answer) {
      if (answer.status !== 401 || !state.token) return answer;
      return openSession().then(function (opened) {
        return opened.ok ? call(method, path, body) : answer;
      });
    });
  }

  function openSession() {
    return call("POST", "/v1/signing/sessions", { token: state.token }).then(function (answer) {
      if (answer.status === 201) state.session = answer.data.session_token;
      return answer;
    });
  }

  function fetchBlob(path) {
    return fetch(path, {
      headers: { Authorization: "Bearer " + state.session },
      credentials: "omit",
    }).then(function (response) {
      if (!response.ok) throw new Error(String(response.status));
      return response.blob();
    });
  }

  function networkOrProblem(answer) {
    return answer.status === 0 ? t("error_network") : problemText(answer.data);
  }

  // --- the embedding platform ----------------------------------------------------------------

  function tellParent(type) {
    if (window.parent === window || !state.view) return;
    var note = { type: type, envelope_id: state.view.id, recipient_id: state.view.me.recipient_id };
    config.parentOrigins.forEach(function (origin) {
      window.parent.postMessage(note, origin === "'self'" ? location.origin : origin);
    });
  }

  // --- start and route -------------------------------------------------------------------------

  function start() {
    openSession().then(function (answer) {
      if (answer.status === 201) return refresh();
      if (answer.status === 404 || answer.status === 422) return message("unknown_heading", "unknown");
      if (answer.status === 410) return message("ended_heading", "ended");
      show([h("h1", {}, t("title")), h("p", { role: "alert" }, networkOrProblem(answer))]);
    });
  }

  function refresh() {
    return api("GET", "/v1/signing/envelope").then(function (answer) {
      if (answer.status === 410) return message("ended_heading", "ended");
      if (!answer.ok) {
        show([h("h1", {}, t("title")), h("p", { role: "alert" }, networkOrProblem(answer))]);
        return;
      }
      state.view = answer.data;
      route(answer.data);
    });
  }

  function route(view) {
    var me = view.me;
    if (ENDED.indexOf(view.status) >= 0 && me.status !== "declined") {
      return message("ended_heading", "ended");
    }
    if (me.status === "declined") return showDone("done_declined");
    if (me.status === "signed" || me.signature === "applied") return showDone("done_signed");
    if (me.status === "approved") return showDone("done_approved");
    if (me.signature === "pending") return waitForSignature();
    if (me.actions.length === 0) return showNotYourTurn(view);
    showCeremony(view);
  }

  // --- the pages around the ceremony -------------------------------------------------------------

  function envelopeHeader(view) {
    return [
      h("h1", {}, view.name || t("untitled")),
      h("p", { className: "sender" }, t("from_sender", { name: view.sender_name })),
      view.message ? h("p", { className: "note" }, view.message) : null,
    ];
  }

  function showNotYourTurn(view) {
    show([
      h("h1", {}, t("not_your_turn_heading")),
      h("p", {}, t("not_your_turn")),
      h("p", { className: "sender" }, (view.name || t("untitled")) + " — " +
        t("from_sender", { name: view.sender_name })),
    ]);
  }

  function showDone(key) {
    var view = state.view;
    var declined = key === "done_declined";
    var children = [h("h1", {}, t(key))];
    if (!declined) {
      children.push(h("h2", {}, t("downloads_heading")));
      children.push(
        h("p", {}, t(view.status === "completed" ? "completed_note" : "in_progress_note"))
      );
      children.push(h("ul", { className: "downloads" }, view.documents.map(function (d) {
        return h("li", {}, downloadButton(d));
      })));
    }
    show(children);
  }

  function downloadButton(document_) {
    var box = alertBox();
    var button = h("button", { type: "button", className: "secondary", onclick: function () {
      say(box, "");
      fetchBlob("/v1/signing/documents/" + document_.id + "/content").then(function (blob) {
        var link = h("a", { href: URL.createObjectURL(blob), download: document_.filename });
        document.body.appendChild(link);
        link.click();
        link.remove();
        setTimeout(function () { URL.revokeObjectURL(link.href); }, 60000);
      }, function () { say(box, t("error_generic")); });
    } }, t("download", { filename: document_.filename }));
    return h("span", {}, [button, box]);
  }

  function waitForSignature() {
    show([h("h1", {}, t("sign_heading")), h("p", { role: "status" }, t("signing"))]);
    var poll = function () {
      api("GET", "/v1/signing/envelope").then(function (answer) {
        if (answer.ok) state.view = answer.data;
        var me = answer.ok ? answer.data.me : null;
        if (me && (me.status === "signed" || me.signature === "applied")) {
          tellParent("cachet.signed");
          return showDone("done_signed");
        }
        // No request any more: the signature was abandoned; the view says what now.
        if (me && me.signature === null) return route(answer.data);
        if (answer.status === 410) return message("ended_heading", "ended");
        setTimeout(poll, POLL_MS);
      });
    };
    setTimeout(poll, POLL_MS);
  }

  // --- the ceremony: steps, documents, the current step's panel ----------------------------------

  function showCeremony(view) {
    var pending = view.me.steps.filter(function (s) { return s.status === "pending"; })[0];
    var panel;
    if (!pending) panel = blockedPanel();
    else if (pending.step === "sms") panel = smsPanel(view);
    else if (pending.step === "identity") panel = identityPanel();
    else if (view.kind === "approval") panel = approvePanel();
    else panel = signPanel(view);
    var later = state.stepShown !== undefined && state.stepShown !== (pending && pending.step);
    state.stepShown = pending && pending.step;
    show(envelopeHeader(view).concat([stepList(view), documentViewer(view), panel]),
      later ? panel.querySelector("h2") : null);
  }

  function stepList(view) {
    return h("nav", { "aria-label": t("steps_heading"), className: "steps" }, [
      h("h2", {}, t("steps_heading")),
      h("ol", {}, view.me.steps.map(function (s) {
        var name = s.step === "sign" && view.kind === "approval" ? "step_approve" : "step_" + s.step;
        return h("li", {
          className: "step " + s.status,
          "aria-current": s.status === "pending" ? "step" : null,
        }, [h("span", {}, t(name)), h("span", { className: "state" }, t("status_" + s.status))]);
      })),
    ]);
  }

  // No step to do, yet it is this recipient's turn: the SMS step is locked (too many wrong
  // codes) or the phone cannot be reached; the sender was told and can put it right.
  function blockedPanel() {
    var me = state.view.me;
    var reason = me.steps.some(function (s) { return s.step === "sms" && s.status === "blocked"; })
      ? "sms_blocked" : "error_generic";
    return h("section", { className: "panel" }, [
      h("h2", {}, t("blocked_heading")), h("p", { role: "alert" }, t(reason)),
    ]);
  }

  // --- documents, page by page -------------------------------------------------------------------

  function documentViewer(view) {
    var section = h("section", { className: "documents", "aria-labelledby": "documents-heading" });
    var body = h("div", {});
    section.appendChild(h("h2", { id: "documents-heading" }, t("documents_heading")));
    if (view.documents.length > 1) {
      var select = h("select", { id: "document-select", onchange: function () {
        state.viewer.document = Number(select.value);
        state.viewer.page = 1;
        renderDocument(view, body);
      } }, view.documents.map(function (d, index) {
        return h("option", { value: String(index), selected: index === state.viewer.document },
          d.filename);
      }));
      section.appendChild(h("label", { for: "document-select" }, t("document_select")));
      section.appendChild(select);
    }
    section.appendChild(body);
    renderDocument(view, body);
    return section;
  }

  function renderDocument(view, body) {
    var document_ = view.documents[state.viewer.document];
    if (!document_.page_count) {
      body.replaceChildren(h("p", {}, t("not_shown")), downloadButton(document_));
      return;
    }
    var count = document_.page_count;
    var viewer = state.viewer;
    var counter = h("span", { className: "counter", "aria-live": "polite" });
    var zoomText = h("span", { className: "zoom", "aria-live": "polite" });
    var previous = h("button", { type: "button", className: "icon", "aria-label": t("previous_page"),
      onclick: function () { turn(-1); } }, "‹");
    var next = h("button", { type: "button", className: "icon", "aria-label": t("next_page"),
      onclick: function () { turn(1); } }, "›");
    var zoomOut = h("button", { type: "button", className: "icon", "aria-label": t("zoom_out"),
      onclick: function () { zoom(-0.25); } }, "−");
    var zoomIn = h("button", { type: "button", className: "icon", "aria-label": t("zoom_in"),
      onclick: function () { zoom(0.25); } }, "+");
    var sheet = h("div", { className: "sheet" });
    var frame = h("div", { className: "page-frame" }, sheet);

    function turn(by) {
      viewer.page = Math.min(count, Math.max(1, viewer.page + by));
      draw();
    }
    function zoom(by) {
      viewer.zoom = Math.min(3, Math.max(0.5, viewer.zoom + by));
      draw();
    }
    function draw() {
      counter.textContent = t("page_of", { page: viewer.page, count: count });
      zoomText.textContent = t("zoom_level", { percent: Math.round(viewer.zoom * 100) });
      previous.disabled = viewer.page <= 1;
      next.disabled = viewer.page >= count;
      zoomOut.disabled = viewer.zoom <= 0.5;
      zoomIn.disabled = viewer.zoom >= 3;
      drawPage(document_, viewer, sheet);
      showMyStamp(frame, sheet);
    }
    body.replaceChildren(
      h("div", { className: "toolbar" }, [previous, counter, next, zoomOut, zoomText, zoomIn]),
      frame,
      downloadButton(document_)
    );
    draw();
  }

  // A tall page scrolls inside its frame: bring this signer's own box into view, once the
  // frame is on the page and laid out.
  function showMyStamp(frame, sheet) {
    requestAnimationFrame(function () {
      var mine = sheet.querySelector(".stamp.mine");
      frame.scrollTop = mine ? Math.max(0, sheet.offsetTop + mine.offsetTop - 40) : 0;
    });
  }

  function drawPage(document_, viewer, sheet) {
    var size = document_.pages[viewer.page - 1] || { width: 595, height: 842 };
    var ratio = window.devicePixelRatio || 1;
    // Drawn at the size shown (times the screen's density), within what the API accepts.
    var scale = Math.min(4, Math.max(0.25, viewer.zoom * Math.min(ratio, 2) * 1.25));
    var image = h("img", { alt: t("page_alt", { page: viewer.page, filename: document_.filename }) });
    sheet.style.width = viewer.zoom * 100 + "%";
    sheet.style.aspectRatio = size.width + " / " + size.height;
    sheet.replaceChildren(image);
    sheet.setAttribute("aria-busy", "true");
    document_.stamps.filter(function (s) { return s.page === viewer.page; }).forEach(function (s) {
      var box = h("div", { className: "stamp" + (s.is_me ? " mine" : "") },
        s.is_me ? t("stamp_mine") : t("stamp_other", { position: s.position }));
      box.style.left = (100 * s.x) / size.width + "%";
      box.style.top = (100 * s.y) / size.height + "%";
      box.style.width = (100 * s.width) / size.width + "%";
      box.style.height = (100 * s.height) / size.height + "%";
      sheet.appendChild(box);
    });
    var path = "/v1/signing/documents/" + document_.id + "/pages/" + viewer.page + ".png?scale=" +
      scale.toFixed(2);
    fetchBlob(path).then(function (blob) {
      var old = image.src;
      image.src = URL.createObjectURL(blob);
      if (old) URL.revokeObjectURL(old);
      sheet.removeAttribute("aria-busy");
    }, function () {
      sheet.removeAttribute("aria-busy");
      image.alt = t("error_generic");
    });
  }

  // --- SMS code ------------------------------------------------------------------------------

  function smsPanel(view) {
    var box = alertBox();
    var info = h("p", { role: "status" }, t("sms_intro", { phone: view.me.phone_hint || "" }));
    var input = h("input", { id: "otp-code", name: "code", inputmode: "numeric",
      autocomplete: "one-time-code", maxlength: "6", "aria-required": "true" });
    var verifyButton = h("button", { type: "submit" }, t("verify"));
    var codeForm = h("form", { className: "code", hidden: true, onsubmit: function (event) {
      event.preventDefault();
      var code = input.value.replace(/\s/g, "");
      if (!/^[0-9]{6}$/.test(code)) return say(box, t("code_format"));
      verifyButton.disabled = true;
      api("POST", "/v1/signing/otp/verify", { code: code }).then(function (answer) {
        verifyButton.disabled = false;
        if (answer.ok) return refresh();
        say(box, networkOrProblem(answer));
        input.focus();
      });
    } }, [h("label", { for: "otp-code" }, t("code_label")), input, verifyButton]);
    var send = h("button", { type: "button", onclick: function () { requestCode(); } },
      t("send_code"));
    var timer = null;

    function countdown(seconds) {
      clearInterval(timer);
      var left = seconds;
      send.disabled = true;
      var tick = function () {
        if (!send.isConnected) return clearInterval(timer);
        if (left <= 0) {
          clearInterval(timer);
          send.disabled = false;
          send.textContent = t("resend");
          return;
        }
        send.textContent = t("resend_in", { seconds: left });
        left -= 1;
      };
      tick();
      timer = setInterval(tick, 1000);
    }

    function requestCode() {
      say(box, "");
      send.disabled = true;
      api("POST", "/v1/signing/otp").then(function (answer) {
        if (answer.ok) {
          say(info, t("code_sent", { phone: answer.data.phone_hint }));
          codeForm.hidden = false;
          input.focus();
          return countdown(answer.data.resend_after_seconds);
        }
        send.disabled = false;
        if (answer.status === 429) {
          // A code went out moments ago (before a reload, say): it can still be entered.
          codeForm.hidden = false;
          countdown(Number(answer.response.headers.get("Retry-After")) || 30);
        }
        if (answer.status === 423 || (answer.data && answer.data.code === "phone_unreachable")) {
          send.disabled = true;
        }
        say(box, networkOrProblem(answer));
      });
    }

    return h("section", { className: "panel", "aria-labelledby": "sms-heading" }, [
      h("h2", { id: "sms-heading" }, t("sms_heading")), info, send, codeForm, box,
      declineArea(),
    ]);
  }

  // --- identity check ------------------------------------------------------------------------

  function identityPanel() {
    var box = alertBox();
    var status = h("p", { role: "status" });
    var place = h("div", {});
    var startButton = h("button", { type: "button", onclick: function () {
      startButton.disabled = true;
      say(box, "");
      api("POST", "/v1/signing/identity").then(function (answer) {
        startButton.disabled = false;
        if (!answer.ok) return say(box, networkOrProblem(answer));
        follow(answer.data);
      });
    } }, t("identity_start"));

    function follow(check) {
      if (check.status === "approved") return refresh();
      if (check.verification_url) {
        place.replaceChildren(h("a", { href: check.verification_url, target: "_blank",
          rel: "noopener noreferrer", className: "button" }, t("identity_open")));
      }
      if (check.status === "declined" || check.status === "expired") {
        place.replaceChildren();
        say(box, check.reason === "identity_mismatch" ? t("error_identity_mismatch")
          : t("identity_declined", { attempts: check.attempts_left }));
        startButton.hidden = check.attempts_left <= 0 || check.reason === "identity_mismatch";
        return;
      }
      startButton.hidden = true;
      status.textContent = t(check.status === "review" ? "identity_review" : "identity_waiting");
      setTimeout(poll, 3 * POLL_MS);
    }

    function poll() {
      if (!status.isConnected) return;
      api("GET", "/v1/signing/identity").then(function (answer) {
        if (answer.ok) follow(answer.data);
        else setTimeout(poll, 3 * POLL_MS);
      });
    }

    // A check already open (the signer came back from the provider) is followed at once.
    api("GET", "/v1/signing/identity").then(function (answer) {
      if (answer.ok && answer.data.status !== "not_started") follow(answer.data);
    });
    return h("section", { className: "panel", "aria-labelledby": "identity-heading" }, [
      h("h2", { id: "identity-heading" }, t("identity_heading")),
      h("p", {}, t("identity_intro")), startButton, place, status, box, declineArea(),
    ]);
  }

  // --- approve -------------------------------------------------------------------------------

  function approvePanel() {
    var box = alertBox();
    var comment = h("textarea", { id: "approve-comment", rows: "2", maxlength: "2000" });
    var approveButton = h("button", { type: "submit" }, t("approve"));
    var form = h("form", { onsubmit: function (event) {
      event.preventDefault();
      approveButton.disabled = true;
      var body = comment.value.trim() ? { comment: comment.value.trim() } : {};
      api("POST", "/v1/signing/approve", body).then(function (answer) {
        approveButton.disabled = false;
        if (!answer.ok) return say(box, networkOrProblem(answer));
        state.view = answer.data;
        tellParent("cachet.approved");
        showDone("done_approved");
      });
    } }, [
      h("label", { for: "approve-comment" }, t("comment_label")), comment,
      h("div", { className: "actions" }, [approveButton]),
    ]);
    return h("section", { className: "panel", "aria-labelledby": "act-heading" }, [
      h("h2", { id: "act-heading" }, t("approve_heading")), form, box, declineArea(),
    ]);
  }

  // --- sign ----------------------------------------------------------------------------------

  function signPanel(view) {
    var box = alertBox();
    var pad = signaturePad();
    var consent = h("input", { type: "checkbox", id: "consent", "aria-describedby": "consent-text" });
    var signButton = h("button", { type: "submit" }, t("sign"));
    var form = h("form", { onsubmit: function (event) {
      event.preventDefault();
      if (pad.isEmpty()) return say(box, t("need_signature"));
      if (!consent.checked) {
        consent.focus();
        return say(box, t("need_consent"));
      }
      say(box, "");
      signButton.disabled = true;
      api("POST", "/v1/signing/sign", { consent: true, signature_image: pad.png() })
        .then(function (answer) {
          signButton.disabled = false;
          if (!answer.ok) return say(box, networkOrProblem(answer));
          state.view = answer.data;
          if (answer.data.me.status === "signed") {
            tellParent("cachet.signed");
            return showDone("done_signed");
          }
          waitForSignature();
        });
    } }, [
      pad.element,
      h("p", { id: "consent-text", className: "consent-text" }, view.me.consent_text || ""),
      h("div", { className: "consent" }, [consent, h("label", { for: "consent" }, t("consent_label"))]),
      h("div", { className: "actions" }, [signButton]),
    ]);
    return h("section", { className: "panel", "aria-labelledby": "act-heading" }, [
      h("h2", { id: "act-heading" }, t("sign_heading")), form, box, declineArea(),
    ]);
  }

  // Drawn with any pointer (mouse, finger, pen), or typed: the name written in a script face.
  // Either way the canvas holds the signature, and its PNG is what POST /sign receives.
  function signaturePad() {
    var canvas = h("canvas", { role: "img", "aria-label": t("pad_label"), className: "pad",
      width: "600", height: "200" });
    var context = canvas.getContext("2d");
    var drawn = false;
    var last = null;
    var typed = h("input", { id: "typed-name", autocomplete: "name", oninput: function () {
      writeName(typed.value);
    } });
    var typedRow = h("div", { className: "typed", hidden: true },
      [h("label", { for: "typed-name" }, t("typed_name")), typed]);
    var hint = h("p", { className: "hint" }, t("pad_hint"));

    function clear() {
      context.clearRect(0, 0, canvas.width, canvas.height);
      drawn = false;
    }
    function point(event) {
      var rect = canvas.getBoundingClientRect();
      return {
        x: ((event.clientX - rect.left) * canvas.width) / rect.width,
        y: ((event.clientY - rect.top) * canvas.height) / rect.height,
      };
    }
    function stroke(to, pressure) {
      context.strokeStyle = "#10206e";
      context.lineCap = "round";
      context.lineJoin = "round";
      context.lineWidth = 2 + 3 * (pressure || 0.5);
      context.beginPath();
      context.moveTo(last.x, last.y);
      context.lineTo(to.x, to.y);
      context.stroke();
      last = to;
      drawn = true;
    }
    canvas.addEventListener("pointerdown", function (event) {
      if (mode !== "draw") return;
      event.preventDefault();
      canvas.setPointerCapture(event.pointerId);
      last = point(event);
      stroke({ x: last.x + 0.1, y: last.y + 0.1 }, event.pressure);
    });
    canvas.addEventListener("pointermove", function (event) {
      if (!last) return;
      var events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
      (events.length ? events : [event]).forEach(function (e) { stroke(point(e), e.pressure); });
    });
    ["pointerup", "pointercancel", "lostpointercapture"].forEach(function (name) {
      canvas.addEventListener(name, function () { last = null; });
    });

    function writeName(name) {
      clear();
      if (!name.trim()) return;
      var size = 72;
      context.fillStyle = "#10206e";
      context.textAlign = "center";
      context.textBaseline = "middle";
      do {
        context.font = "italic " + size + "px 'Segoe Script', 'Brush Script MT', 'URW Chancery L', cursive";
        size -= 4;
      } while (context.measureText(name).width > canvas.width - 40 && size > 16);
      context.fillText(name.trim(), canvas.width / 2, canvas.height / 2);
      drawn = true;
    }

    var mode = "draw";
    function modeChoice(value, key) {
      return h("label", { className: "choice" }, [
        h("input", { type: "radio", name: "signature-mode", value: value, checked: value === mode,
          onchange: function () {
            mode = value;
            clear();
            typed.value = "";
            typedRow.hidden = value !== "type";
            hint.hidden = value !== "draw";
            if (value === "type") typed.focus();
          } }),
        t(key),
      ]);
    }
    var element = h("div", { className: "signature" }, [
      h("fieldset", { className: "modes" }, [
        h("legend", {}, t("signature_mode")), modeChoice("draw", "draw"), modeChoice("type", "type"),
      ]),
      hint, typedRow, canvas,
      h("button", { type: "button", className: "secondary", onclick: function () {
        clear();
        typed.value = "";
      } }, t("clear")),
    ]);
    return {
      element: element,
      isEmpty: function () { return !drawn; },
      png: function () { return canvas.toDataURL("image/png"); },
    };
  }

  // --- decline -------------------------------------------------------------------------------

  function declineArea() {
    var box = alertBox();
    // aria-required, not required: the page says what is missing, in the recipient's words.
    var reason = h("textarea", { id: "decline-reason", rows: "3", maxlength: "2000",
      "aria-required": "true" });
    var confirm = h("button", { type: "submit", className: "danger" }, t("decline_confirm"));
    var form = h("form", { className: "decline-form", hidden: true, onsubmit: function (event) {
      event.preventDefault();
      if (!reason.value.trim()) {
        reason.focus();
        return say(box, t("need_reason"));
      }
      confirm.disabled = true;
      api("POST", "/v1/signing/decline", { reason: reason.value.trim() }).then(function (answer) {
        confirm.disabled = false;
        if (!answer.ok) return say(box, networkOrProblem(answer));
        state.view = answer.data;
        tellParent("cachet.declined");
        showDone("done_declined");
      });
    } }, [
      h("h3", {}, t("decline_heading")),
      h("label", { for: "decline-reason" }, t("decline_reason")), reason,
      h("div", { className: "actions" }, [
        confirm,
        h("button", { type: "button", className: "secondary", onclick: function () {
          form.hidden = true;
          opener.hidden = false;
          opener.focus();
        } }, t("cancel")),
      ]),
      box,
    ]);
    var opener = h("button", { type: "button", className: "danger secondary", onclick: function () {
      opener.hidden = true;
      form.hidden = false;
      reason.focus();
    } }, t("decline"));
    return h("div", { className: "decline" }, [opener, form]);
  }

  start();
})();

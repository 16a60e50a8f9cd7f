/* Charter: verify a ledger entry in the browser.
 *
 * RFC 6962 / RFC 9162 inclusion proof with WebCrypto SHA-256, and the checkpoint's
 * C2SP signed-note Ed25519 signature with WebCrypto where the browser has Ed25519,
 * else with the vendored, pinned TweetNaCl 1.0.3 (/static/vendor/, public domain),
 * loaded only when needed. No inline script: the page's CSP forbids it.
 */
(function () {
  "use strict";
  var root = document.getElementById("verifier");
  if (!root) { return; }
  var msg = function (name) { return root.getAttribute("data-msg-" + name) || name; };
  var result = document.getElementById("verify-result");
  var steps = document.getElementById("verify-steps");
  var index = parseInt(root.getAttribute("data-index"), 10);
  var enc = new TextEncoder();

  function b64(text) {
    var bin = atob(text);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }
  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }
  function concat() {
    var n = 0, i;
    for (i = 0; i < arguments.length; i++) { n += arguments[i].length; }
    var out = new Uint8Array(n), at = 0;
    for (i = 0; i < arguments.length; i++) { out.set(arguments[i], at); at += arguments[i].length; }
    return out;
  }
  function equal(a, b) {
    if (a.length !== b.length) { return false; }
    var d = 0;
    for (var i = 0; i < a.length; i++) { d |= a[i] ^ b[i]; }
    return d === 0;
  }
  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }
  var leafHash = function (data) { return sha256(concat(new Uint8Array([0]), data)); };
  var nodeHash = function (l, r) { return sha256(concat(new Uint8Array([1]), l, r)); };

  /* RFC 9162 section 2.1.3.2: the root an inclusion proof leads to, or null. */
  async function rootFromProof(leaf, idx, size, proof) {
    if (idx >= size) { return null; }
    var fn = idx, sn = size - 1, r = leaf;
    for (var i = 0; i < proof.length; i++) {
      if (sn === 0) { return null; }
      if ((fn & 1) || fn === sn) {
        r = await nodeHash(proof[i], r);
        while (!(fn & 1) && fn !== 0) { fn >>= 1; sn >>= 1; }
      } else {
        r = await nodeHash(r, proof[i]);
      }
      fn >>= 1; sn >>= 1;
    }
    return sn === 0 ? r : null;
  }

  /* A C2SP signed note: body (origin, size, root), then signature lines. */
  function parseNote(note) {
    var sep = note.lastIndexOf("\n\n");
    var body = note.slice(0, sep + 1);
    var lines = body.split("\n");
    var sigs = note.slice(sep + 2).replace(/\n$/, "").split("\n").map(function (line) {
      var rest = line.replace(/^\u2014 /, "");
      var space = rest.indexOf(" ");
      var raw = b64(rest.slice(space + 1));
      return { name: rest.slice(0, space), kid: raw.slice(0, 4), sig: raw.slice(4) };
    });
    return { body: enc.encode(body), origin: lines[0], size: parseInt(lines[1], 10), root: b64(lines[2]), sigs: sigs };
  }

  function loadNacl() {
    return new Promise(function (resolve, reject) {
      if (window.nacl) { resolve(window.nacl); return; }
      var s = document.createElement("script");
      s.src = "/static/vendor/tweetnacl-1.0.3.min.js";
      s.onload = function () { resolve(window.nacl); };
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }

  async function ed25519(pub, sig, body) {
    try {
      var key = await crypto.subtle.importKey("raw", pub, { name: "Ed25519" }, false, ["verify"]);
      return { ok: await crypto.subtle.verify({ name: "Ed25519" }, key, sig, body), how: msg("webcrypto") };
    } catch (e) {
      var nacl = await loadNacl();
      return { ok: nacl.sign.detached.verify(body, sig, pub), how: msg("nacl") };
    }
  }

  async function checkSignature(cp, vkey) {
    var parts = vkey.split("+");
    var name = parts[0], kidHex = parts[1], keyBytes = b64(parts.slice(2).join("+"));
    if (keyBytes.length !== 33 || keyBytes[0] !== 1) { return { ok: false, how: "key" }; }
    var pub = keyBytes.slice(1);
    var kid = (await sha256(concat(enc.encode(name + "\n"), keyBytes))).slice(0, 4);
    if (hex(kid) !== kidHex) { return { ok: false, how: "key id" }; }
    for (var i = 0; i < cp.sigs.length; i++) {
      var s = cp.sigs[i];
      if (s.name === name && equal(s.kid, kid)) {
        var r = await ed25519(pub, s.sig, cp.body);
        if (r.ok) { return r; }
      }
    }
    return { ok: false, how: "" };
  }

  async function getJSON(url) {
    var r = await fetch(url, { credentials: "same-origin" });
    if (!r.ok) { throw new Error(url + ": HTTP " + r.status); }
    return r.json();
  }

  function step(text, ok) {
    var li = document.createElement("li");
    li.textContent = text;
    li.className = ok ? "ok" : "bad";
    steps.appendChild(li);
  }

  async function run(tamper) {
    steps.textContent = "";
    result.className = "verify-result";
    result.textContent = msg("running");
    root.setAttribute("data-state", "running");
    try {
      if (!window.crypto || !crypto.subtle) { throw new Error(msg("nocrypto")); }
      var noteResp = await fetch("/ledger/checkpoint", { credentials: "same-origin" });
      var cp = parseNote(await noteResp.text());
      if (index >= cp.size) { throw new Error(msg("beyond")); }
      var key = await getJSON("/ledger/key");
      var entry = (await getJSON("/ledger/entries?start=" + index + "&end=" + (index + 1)))[0];
      var proof = (await getJSON("/ledger/proof/inclusion?index=" + index + "&size=" + cp.size)).proof.map(b64);
      var data = b64(entry.raw);
      if (tamper) {
        data = data.slice();
        data[Math.floor(data.length / 2)] ^= 1; /* one bit of the entry changed */
      }
      var got = await rootFromProof(await leafHash(data), index, cp.size, proof);
      var included = got !== null && equal(got, cp.root);
      step(msg("proof") + ": " + (included ? msg("valid") : msg("invalid")) + " (" + proof.length + " × SHA-256, size " + cp.size + ")", included);
      var sig = await checkSignature(cp, key.vkey);
      step(msg("signature") + ": " + (sig.ok ? msg("valid") : msg("invalid")) + (sig.how ? " — " + sig.how : ""), sig.ok);
      var ok = included && sig.ok;
      if (tamper) {
        result.textContent = ok ? msg("tampered-passes") : msg("tampered-fails");
        result.className = "verify-result " + (ok ? "bad" : "ok");
        root.setAttribute("data-state", ok ? "tampered-passed" : "tampered-failed");
      } else {
        result.textContent = ok ? msg("ok") : msg("fail");
        result.className = "verify-result " + (ok ? "ok" : "bad");
        root.setAttribute("data-state", ok ? "verified" : "failed");
      }
    } catch (e) {
      result.textContent = msg("fail") + " " + e.message;
      result.className = "verify-result bad";
      root.setAttribute("data-state", "error");
    }
  }

  var good = document.getElementById("verify-entry");
  var bad = document.getElementById("verify-tampered");
  good.hidden = false;
  bad.hidden = false;
  good.addEventListener("click", function () { run(false); });
  bad.addEventListener("click", function () { run(true); });
  run(false);
}());

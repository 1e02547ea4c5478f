// simsearch's page: the gallery, search by photo, and the duplicates
// review. Plain JavaScript against /api/v1/; no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  view: "gallery",
  next: 0,            // the gallery's next page (after=)
  groups: [],         // the duplicate groups shown
  groupsTotal: 0,
  keepers: {},        // group id -> chosen keeper id
  skip: new Set(),    // group ids left out of the plan
  focus: -1,          // index of the focused group
  plan: null,         // the last dry run
  decisions: [],      // the stored decisions, oldest first
};

function setStatus(text, error) {
  const s = $("status");
  s.textContent = text || "";
  s.classList.toggle("error", !!error);
}

async function api(path, init) {
  const r = await fetch(path, Object.assign({ credentials: "same-origin" }, init || {}));
  let body = null;
  try { body = await r.json(); } catch (e) { body = null; }
  if (!r.ok) {
    throw new Error((body && body.error) || ("HTTP " + r.status));
  }
  return body;
}

function postJSON(path, v) {
  return api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(v) });
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function base(path) { return path.slice(path.lastIndexOf("/") + 1); }

function kb(n) { return n >= 1e6 ? (n / 1e6).toFixed(1) + " MB" : Math.round(n / 1e3) + " kB"; }

function when(it) {
  if (it.taken) return "taken " + it.taken.replace("T", " ");
  return "file " + new Date(it.mtime_ns / 1e6).toISOString().slice(0, 19).replace("T", " ");
}

function thumb(it) {
  const img = el("img");
  img.loading = "lazy";
  img.alt = base(it.path);
  img.src = "/api/v1/items/" + it.id + "/thumbnail";
  return img;
}

// card is one photo; onClick searches from it unless told otherwise.
function card(it, lines, onClick) {
  const c = el("div", "card");
  c.tabIndex = 0;
  c.dataset.id = it.id;
  c.dataset.path = it.path;
  c.title = it.path;
  c.appendChild(thumb(it));
  const m = el("div", "meta");
  for (const l of lines) m.appendChild(l);
  c.appendChild(m);
  if (onClick) {
    c.addEventListener("click", onClick);
    c.addEventListener("keydown", (ev) => { if (ev.key === "Enter") onClick(ev); });
  }
  return c;
}

function show(view) {
  state.view = view;
  for (const v of ["gallery", "search", "dups"]) {
    $("view-" + v).hidden = v !== view;
    $("nav-" + v).classList.toggle("on", v === view);
  }
  if (view === "dups" && state.groups.length === 0) loadGroups(true);
  if (view === "gallery" && $("gallery").childElementCount === 0) loadGallery();
}

// Gallery.

async function loadGallery() {
  try {
    const page = await api("/api/v1/items?limit=60&after=" + state.next);
    for (const it of page.items) {
      $("gallery").appendChild(card(it, [el("div", "path", base(it.path))], () => searchByID(it.id)));
    }
    state.next = page.next;
    $("more").hidden = page.next === 0;
    $("gallery-summary").textContent = page.total + " photos";
  } catch (e) { setStatus(e.message, true); }
}

// Search.

function filters() {
  const q = new URLSearchParams();
  q.set("k", $("f-k").value || "20");
  if (+$("f-min").value > 0) q.set("min_score", $("f-min").value);
  if ($("f-label").value.trim()) q.set("label", $("f-label").value.trim());
  if ($("f-after").value) q.set("taken_after", $("f-after").value);
  if ($("f-before").value) q.set("taken_before", $("f-before").value);
  return q;
}

function showResults(ans) {
  const box = $("results");
  box.replaceChildren();
  $("search-summary").textContent = ans.results.length + " results for " + ans.query + " (" + ans.took_ms.toFixed(0) + " ms)";
  for (const m of ans.results) {
    box.appendChild(card(m, [
      el("div", "score", "#" + m.rank + " · " + m.score.toFixed(3)),
      el("div", "path", base(m.path)),
    ], () => searchByID(m.id)));
  }
  show("search");
}

async function searchByID(id) {
  setStatus("searching…");
  try {
    const q = filters();
    q.set("id", id);
    showResults(await api("/api/v1/query?" + q));
    setStatus("");
  } catch (e) { setStatus(e.message, true); }
}

async function searchByFile(file) {
  if (!file) return;
  setStatus("searching with " + file.name + "…");
  const form = new FormData();
  form.append("image", file, file.name);
  try {
    showResults(await api("/api/v1/query?" + filters(), { method: "POST", body: form }));
    setStatus("");
  } catch (e) { setStatus(e.message, true); }
}

// Duplicates.

async function loadGroups(reset) {
  if (reset) {
    state.groups = [];
    state.keepers = {};
    state.skip.clear();
    state.focus = -1;
    $("groups").replaceChildren();
    loadDecisions();
  }
  try {
    const page = await api("/api/v1/duplicates?limit=50&offset=" + state.groups.length);
    state.groupsTotal = page.total;
    for (const g of page.groups) {
      state.groups.push(g);
      $("groups").appendChild(groupBox(g, state.groups.length - 1));
    }
    $("more-groups").hidden = state.groups.length >= page.total;
    $("dups-summary").textContent = page.total + (page.total === 1 ? " group" : " groups") + " at threshold " + page.threshold.toFixed(2) +
      (page.set_aside ? " · " + page.set_aside + " pairs kept apart by decisions" : "");
    if (state.focus < 0 && state.groups.length) focusGroup(0);
  } catch (e) { setStatus(e.message, true); }
}

function files(g) { return [g.keeper].concat(g.members); }

function keeperOf(g) { return state.keepers[g.id] || g.id; }

function groupBox(g, i) {
  const box = el("div", "group");
  box.dataset.group = g.id;
  box.addEventListener("click", () => focusGroup(i));
  box.appendChild(el("h3", "", "Group " + (i + 1) + " · " + (g.members.length + 1) + " files · " + g.keeper_reason));
  const row = el("div", "files");
  files(g).forEach((it, n) => {
    const lines = [
      el("div", "", (n + 1) + ". " + it.width + "×" + it.height + " " + it.format + " · " + kb(it.size)),
      el("div", "", when(it)),
      el("div", "path", it.path),
    ];
    if (n > 0) lines.unshift(el("div", "score", "score " + it.score.toFixed(3) + " (" + it.reason + ")"));
    const c = card(it, lines);
    c.classList.add("file");
    const b = el("button", "choose", "Keep this");
    b.addEventListener("click", (ev) => { ev.stopPropagation(); chooseKeeper(g, it.id); });
    c.querySelector(".meta").appendChild(b);
    row.appendChild(c);
  });
  box.appendChild(row);
  const buttons = el("div", "buttons");
  const add = (label, cls, fn) => {
    const b = el("button", cls, label);
    b.addEventListener("click", (ev) => { ev.stopPropagation(); fn(); });
    buttons.appendChild(b);
  };
  add("Not duplicates", "ignore", () => decide(g, "ignore"));
  add("Keep all", "keepall", () => decide(g, "keep"));
  add("Skip", "skipbtn", () => toggleSkip(g));
  box.appendChild(buttons);
  markKeeper(box, g);
  return box;
}

function markKeeper(box, g) {
  const k = keeperOf(g);
  for (const c of box.querySelectorAll(".card")) {
    const id = +c.dataset.id;
    c.classList.toggle("keeper", id === k);
    for (const b of c.querySelectorAll(".badge")) b.remove();
    const meta = c.querySelector(".meta");
    if (id === g.id) meta.prepend(el("span", "badge suggested", "suggested"));
    if (id === k) meta.prepend(el("span", "badge", "KEEP"));
  }
}

function boxOf(g) { return document.querySelector('.group[data-group="' + g.id + '"]'); }

function chooseKeeper(g, id) {
  if (id === g.id) delete state.keepers[g.id]; else state.keepers[g.id] = id;
  markKeeper(boxOf(g), g);
  hidePlan();
}

function toggleSkip(g) {
  if (state.skip.has(g.id)) state.skip.delete(g.id); else state.skip.add(g.id);
  boxOf(g).classList.toggle("skip", state.skip.has(g.id));
  hidePlan();
}

function focusGroup(i) {
  if (i < 0 || i >= state.groups.length) return;
  const boxes = document.querySelectorAll(".group");
  boxes.forEach((b, n) => b.classList.toggle("focus", n === i));
  state.focus = i;
  boxes[i].scrollIntoView({ block: "nearest" });
}

async function decide(g, kind) {
  try {
    await postJSON("/api/v1/decisions", { kind: kind, group: g.id });
    setStatus((kind === "ignore" ? "recorded: not duplicates" : "recorded: keep all") + "; f forgets it");
    await loadGroups(true);
  } catch (e) { setStatus(e.message, true); }
}

const kindName = { ignore: "not duplicates", keep: "keep all" };

function decisionText(d) {
  return kindName[d.kind] + ": " + d.files.map((f) => f.named).join(", ");
}

// The stored decisions, newest first, each with a button that forgets it.
async function loadDecisions() {
  try {
    const res = await api("/api/v1/decisions");
    state.decisions = res.decisions;
    const ul = $("decisions");
    ul.replaceChildren();
    for (const d of res.decisions.slice().reverse()) {
      const li = el("li", "decision");
      li.dataset.decision = d.id;
      li.appendChild(el("span", "", decisionText(d) + " · " + d.recorded.slice(0, 16).replace("T", " ")));
      const b = el("button", "forget", "Forget");
      b.addEventListener("click", () => forget(d));
      li.appendChild(b);
      ul.appendChild(li);
    }
    const n = res.decisions.length;
    $("decisions-summary").textContent = n + (n === 1 ? " decision" : " decisions") + " recorded · f forgets the newest";
    $("decisions-box").hidden = n === 0;
  } catch (e) { setStatus(e.message, true); }
}

async function forget(d) {
  try {
    await api("/api/v1/decisions/" + d.id, { method: "DELETE" });
    setStatus("forgot " + decisionText(d) + "; their group is offered again");
    await loadGroups(true);
  } catch (e) { setStatus(e.message, true); }
}

function action() { return $("act-delete").checked ? "delete" : "move"; }

function hidePlan() { state.plan = null; $("plan").hidden = true; }

async function dryRun() {
  setStatus("dry run…");
  try {
    const keepers = {};
    for (const [g, k] of Object.entries(state.keepers)) keepers[g] = k;
    const p = await postJSON("/api/v1/plan", { action: action(), keepers: keepers, skip: [...state.skip] });
    state.plan = p;
    const act = p.steps.filter((s) => !s.skip).length;
    $("plan-title").textContent = "Dry run: " + act + " files would be " + (p.action === "move" ? "moved to " + p.to : "put in the trash") +
      ", " + (p.steps.length - act) + " skipped. Nothing has changed yet.";
    const ol = $("plan-steps");
    ol.replaceChildren();
    for (const s of p.steps) {
      const li = el("li", s.skip ? "skipped" : "", s.op + " " + s.path + (s.dest ? " → " + s.dest : "") + (s.skip ? " — skipped: " + s.skip : ""));
      ol.appendChild(li);
    }
    $("apply").disabled = act === 0;
    $("plan").hidden = false;
    $("plan").scrollIntoView({ block: "nearest" });
    setStatus("");
  } catch (e) { setStatus(e.message, true); }
}

async function apply() {
  if (!state.plan) return;
  $("apply").disabled = true;
  setStatus("applying…");
  try {
    const out = await postJSON("/api/v1/apply", { plan: state.plan.plan });
    hidePlan();
    setStatus("run " + out.run_id + ": " + out.changed.length + " files changed; Undo reverses it");
    await loadGroups(true);
  } catch (e) { setStatus(e.message, true); $("apply").disabled = false; }
}

async function undo() {
  setStatus("undoing…");
  try {
    const res = await postJSON("/api/v1/undo", { run: "" });
    setStatus("undid run " + res.run_id + ": " + res.restored.length + " files restored" +
      (res.problems.length ? ", " + res.problems.length + " could not be: " + res.problems.join("; ") : "") +
      (res.indexed ? "; " + res.indexed : ""));
    hidePlan();
    await loadGroups(true);
  } catch (e) { setStatus(e.message, true); }
}

// Keyboard: views, groups, actions.

function onKey(ev) {
  const t = ev.target;
  // Keys typed into a field are the field's; a radio button or a button
  // with the focus leaves them to the page.
  const typing = t && (t.tagName === "TEXTAREA" || t.tagName === "SELECT" ||
    (t.tagName === "INPUT" && !["radio", "checkbox", "button", "file"].includes(t.type)));
  if (ev.ctrlKey || ev.metaKey || ev.altKey || typing) return;
  const g = state.groups[state.focus];
  const inDups = state.view === "dups";
  switch (ev.key) {
    case "g": show("gallery"); break;
    case "s": show("search"); break;
    case "d": show("dups"); break;
    case "/": $("pick").click(); break;
    case "j": case "ArrowDown": if (!inDups) return; focusGroup(state.focus + 1); break;
    case "k": case "ArrowUp": if (!inDups) return; focusGroup(state.focus - 1); break;
    case "i": if (inDups && g) decide(g, "ignore"); break;
    case "b": if (inDups && g) decide(g, "keep"); break;
    case "f": if (inDups && state.decisions.length) forget(state.decisions[state.decisions.length - 1]); break;
    case "x": if (inDups && g) toggleSkip(g); break;
    case "p": if (inDups) dryRun(); break;
    case "u": if (inDups) undo(); break;
    case "Escape": hidePlan(); break;
    default:
      if (inDups && g && /^[1-9]$/.test(ev.key)) {
        const f = files(g)[+ev.key - 1];
        if (f) chooseKeeper(g, f.id);
        break;
      }
      return;
  }
  ev.preventDefault();
}

async function init() {
  for (const b of document.querySelectorAll("nav button")) b.addEventListener("click", () => show(b.dataset.view));
  $("more").addEventListener("click", loadGallery);
  $("more-groups").addEventListener("click", () => loadGroups(false));
  $("pick").addEventListener("change", (ev) => { searchByFile(ev.target.files[0]); ev.target.value = ""; });
  const drop = $("drop");
  drop.addEventListener("dragover", (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", () => drop.classList.remove("over"));
  // A photo dropped on the drop zone, or anywhere else, searches (the
  // browser would otherwise open it).
  document.addEventListener("dragover", (ev) => ev.preventDefault());
  document.addEventListener("drop", (ev) => {
    ev.preventDefault();
    if (ev.dataTransfer && ev.dataTransfer.files.length) searchByFile(ev.dataTransfer.files[0]);
  });
  $("dryrun").addEventListener("click", dryRun);
  $("apply").addEventListener("click", apply);
  $("cancel").addEventListener("click", hidePlan);
  $("undo").addEventListener("click", undo);
  document.addEventListener("keydown", onKey);
  try {
    const st = await api("/api/v1/stats");
    if (st.random_weights) {
      const n = $("notice");
      n.textContent = "Model " + st.model + ": random weights. It finds near-duplicates, not photos of the same subject; `simsearch model pull vgg16` gets the pretrained one.";
      n.hidden = false;
    }
    if (!st.writable) $("dryrun").disabled = $("undo").disabled = true;
  } catch (e) { setStatus(e.message, true); }
  show("gallery");
}

init();

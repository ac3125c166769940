/* The staff console: a client of the public API. Tokens live in this closure only (never in storage). */
"use strict";

(() => {
  const STAFF = ["moderator", "operator", "product", "fulfilment", "admin"];
  const ROLE = { member: "成员", moderator: "版主", operator: "运营", product: "产品", fulfilment: "履约", admin: "管理员" };
  const SUBJECT = { post: "帖子", reply: "回复", idea: "创意", idea_comment: "创意评论", idea_update: "创意进展", share: "体验分享" };
  const REASON = {
    filter: "敏感词", new_member: "新成员首帖", reports: "被举报", idea: "新创意", share: "体验分享",
    wechat: "微信内容安全", media: "图片审核",
  };
  const IDEA_STATUS = {
    pending_review: "待审核", supporting: "征集支持", qualified: "达标待评审", in_review: "评审中", approved: "已通过",
    not_approved: "未通过", rejected: "已驳回", expired: "已过期", archived: "已归档", merged: "已合并",
  };
  const PRESALE_STATUS = {
    draft: "草稿", scheduled: "待开始", open: "进行中", closed: "已截止待结算", balance_due: "尾款期", succeeded: "已成团",
    failed: "未成团", in_production: "生产中", shipped: "已发货", cancelled: "已取消",
  };
  const REPORT_REASON = {
    spam: "垃圾广告", abuse: "辱骂攻击", porn: "色情", illegal: "违法", misinformation: "不实信息", infringement: "侵权", other: "其他",
  };
  const TIER = { inactive: "沉默", occasional: "偶尔活跃", regular: "经常活跃", highly_active: "高度活跃" };
  const PAGES = { moderation: renderModeration, ideas: renderIdeas, presales: renderPresales, operations: renderOperations };

  const session = { access: null, refresh: null, me: null };
  let charts = [];

  // DOM helpers: text is always set as text, never parsed as HTML.
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "text") el.textContent = value;
      else if (key === "class") el.className = value;
      else if (key === "width") el.style.width = value; // through CSSOM: the page's policy refuses style attributes
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else el.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return el;
  }
  const $ = (id) => document.getElementById(id);
  const when = (iso) => (iso ? new Date(iso).toLocaleString("zh-CN", { hour12: false }) : "—");
  const yuan = (cents) => (cents === null || cents === undefined ? "—" : `¥${(cents / 100).toFixed(2)}`);
  const count = (n) => (n === null || n === undefined ? "—" : Number(n).toLocaleString("zh-CN"));

  function toast(message) {
    const box = $("toast");
    box.textContent = message;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 3000);
  }

  // The API

  class ApiError extends Error {
    constructor(status, envelope) {
      const error = (envelope && envelope.error) || {};
      super(error.message || `请求失败（${status}）`);
      this.status = status;
      this.code = error.code;
      this.details = error.details || {};
    }
  }

  async function api(method, path, options = {}) {
    const url = new URL(`/api/v1${path}`, location.origin);
    for (const [key, value] of Object.entries(options.query || {})) {
      if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
    }
    const headers = { "Accept-Language": "zh-CN" };
    const token = options.token || session.access;
    if (token) headers.Authorization = `Bearer ${token}`;
    const init = { method, headers, credentials: "omit", cache: "no-store" };
    if (options.body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(options.body);
    }
    const response = await fetch(url, init);
    if (response.status === 401 && !options.token && session.refresh && !options.retried) {
      const envelope = await response.clone().json().catch(() => null);
      if (envelope && envelope.error && envelope.error.code === "token_expired" && (await refreshTokens())) {
        return api(method, path, { ...options, retried: true });
      }
    }
    if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
    if (options.download) return response.blob();
    return response.status === 204 ? null : response.json();
  }

  async function refreshTokens() {
    try {
      const pair = await api("POST", "/auth/refresh", { token: session.refresh });
      session.access = pair.access_token;
      session.refresh = pair.refresh_token;
      return true;
    } catch (error) {
      signedOut("登录已过期，请重新登录。");
      return false;
    }
  }

  async function download(path, query, filename) {
    try {
      const blob = await api("GET", path, { query, download: true });
      const link = h("a", { href: URL.createObjectURL(blob), download: filename });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 10000);
    } catch (error) {
      toast(error.message);
    }
  }

  /* `query` is the filters, or a function giving them when the button is pressed (a form's current values). */
  function exportButtons(path, query, name, label = "导出 ") {
    return ["csv", "xlsx"].map((format) =>
      h("button", {
        type: "button",
        class: `export-${format}`,
        text: `${label}${format.toUpperCase()}`,
        onclick: () => download(path, { ...(typeof query === "function" ? query() : query), format }, `${name}.${format}`),
      }),
    );
  }

  // Building blocks

  function refusal(error) {
    if (error.status === 403 && error.code === "role_required") {
      const roles = (error.details.roles || []).map((r) => ROLE[r] || r).join(" 或 ");
      return h("p", { class: "muted refused", text: `你的角色无权查看此处（需要${roles}角色）。` });
    }
    return h("p", { class: "error", text: error.message });
  }

  function panel(title, load, extraClass) {
    const body = h("div", { class: "panel-body" }, h("p", { class: "muted", text: "加载中…" }));
    const section = h("section", { class: `panel ${extraClass || ""}` }, h("h2", { text: title }), body);
    const reload = async () => {
      try {
        const content = await load(reload);
        body.replaceChildren(...[content].flat().filter(Boolean));
        startCharts(body);
      } catch (error) {
        body.replaceChildren(refusal(error));
      }
    };
    reload();
    return section;
  }

  function table(columns, rows, empty) {
    if (!rows.length) return h("p", { class: "muted empty", text: empty || "暂无数据" });
    return h(
      "table",
      {},
      h("thead", {}, h("tr", {}, columns.map(([title]) => h("th", { text: title })))),
      h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row)))))),
    );
  }

  function figures(items) {
    return h("div", { class: "figures" }, items.map(([label, value]) => h("div", { class: "figure" }, h("b", { text: value }), label)));
  }

  function chartBox(config, name) {
    const canvas = h("canvas", { "aria-label": name, role: "img", "data-chart": name });
    const box = h("div", { class: "chart-box" }, canvas);
    box.chartConfig = config;
    return box;
  }

  function startCharts(root) {
    for (const box of root.querySelectorAll(".chart-box")) {
      if (!box.chartConfig || box.chart) continue;
      const config = box.chartConfig;
      config.options = { animation: false, responsive: true, maintainAspectRatio: false, ...(config.options || {}) };
      box.chart = new window.Chart(box.querySelector("canvas"), config);
      charts.push(box.chart);
    }
  }

  const DAY = 86400000;
  const isoDay = (date) => date.toISOString().slice(0, 10);

  function dayRange(first, last) {
    const days = [];
    for (let t = Date.parse(`${first}T00:00:00Z`); t <= Date.parse(`${last}T00:00:00Z`) && days.length < 366; t += DAY) {
      days.push(isoDay(new Date(t)));
    }
    return days;
  }

  const PALETTE = ["#c8102e", "#1f6feb", "#1a7f37", "#b35900", "#8250df", "#0a7ea4", "#6e7781"];

  function actionButton(label, cls, run, done) {
    return h("button", {
      type: "button",
      class: cls,
      text: label,
      onclick: async (event) => {
        const button = event.currentTarget;
        button.disabled = true;
        try {
          await run();
          toast(done || `${label}：已完成`);
        } catch (error) {
          toast(error.message);
        } finally {
          button.disabled = false;
        }
      },
    });
  }

  // Moderation

  function renderModeration() {
    return [
      panel("待审核内容", async (reload) => {
        const page = await api("GET", "/moderation/queue", { query: { status: "pending", limit: 50 } });
        return table(
          [
            ["类型", (item) => h("span", { class: "tag", text: SUBJECT[item.subject_type] || item.subject_type })],
            ["内容", (item) => h("div", {}, h("strong", { text: (item.subject && item.subject.title) || `#${item.subject_id}` }),
              h("div", { class: "muted", text: (item.subject && item.subject.excerpt) || "" }))],
            ["作者", (item) => (item.author ? item.author.display_name : "—")],
            ["原因", (item) => REASON[item.reason] || item.reason],
            ["时间", (item) => when(item.created_at)],
            ["理由", (item) => h("input", { class: "reason", "data-item": item.id, placeholder: "驳回或隐藏时告知作者" })],
            ["操作", (item) => moderationButtons(item, reload), "actions"],
          ],
          page.items,
          "没有待审核的内容",
        );
      }, "queue"),
      panel("举报", async () => {
        const page = await api("GET", "/moderation/reports", { query: { status: "open", limit: 50 } });
        return table(
          [
            ["对象", (r) => `${SUBJECT[r.target_type] || r.target_type} #${r.target_id}`],
            ["原因", (r) => REPORT_REASON[r.reason] || r.reason],
            ["说明", (r) => r.detail || "—"],
            ["举报人", (r) => `${r.reporter.display_name}（举报 ${r.reporter_record.filed}，成立 ${r.reporter_record.upheld}）`],
            ["时间", (r) => when(r.created_at)],
          ],
          page.items,
          "没有待处理的举报",
        );
      }),
      panel("处罚", async () => sanctionsForm()),
    ];
  }

  function moderationButtons(item, reload) {
    const reason = () => document.querySelector(`input.reason[data-item="${item.id}"]`).value.trim();
    if (item.subject_type === "share") {
      const review = (decision) => () =>
        api("POST", `/shares/${item.subject_id}/review`, { body: { decision, reason: reason() } }).then(reload);
      return [actionButton("通过", "ok approve", review("approve")), actionButton("驳回", "warn reject", review("reject"))];
    }
    const act = (action) => () =>
      api("POST", "/moderation/actions", {
        body: { action, target_type: item.subject_type, target_id: item.subject_id, reason: reason() },
      }).then(reload);
    return [
      actionButton("通过", "ok approve", act("approve")),
      actionButton("驳回", "warn reject", act("reject")),
      actionButton("隐藏", "hide", act("hide")),
    ];
  }

  function sanctionsForm() {
    const userId = h("input", { type: "number", min: "1", placeholder: "成员 ID", name: "user_id" });
    const kind = h("select", { name: "kind" }, [["mute", "禁言"], ["unmute", "解除禁言"], ["ban", "封禁"], ["unban", "解封"]].map(
      ([value, label]) => h("option", { value, text: label })));
    const hours = h("input", { type: "number", min: "1", max: "8760", value: "24", name: "hours", title: "禁言时长（小时）" });
    const reason = h("input", { placeholder: "原因（必填）", name: "reason" });
    const history = h("div");
    const showHistory = async () => {
      try {
        const list = await api("GET", `/users/${userId.value}/sanctions`, { query: { limit: 50 } });
        history.replaceChildren(table(
          [["类型", (s) => s.kind], ["原因", (s) => s.reason], ["开始", (s) => when(s.starts_at)], ["结束", (s) => when(s.ends_at)]],
          list.items, "没有处罚记录"));
      } catch (error) {
        history.replaceChildren(refusal(error));
      }
    };
    return [
      h("div", { class: "toolbar" }, userId, kind, hours, reason,
        actionButton("执行", "primary", async () => {
          const body = { kind: kind.value, reason: reason.value };
          if (kind.value === "mute") body.hours = Number(hours.value);
          await api("POST", `/users/${userId.value}/sanctions`, { body });
          await showHistory();
        }),
        h("button", { type: "button", text: "查看记录", onclick: showHistory })),
      history,
    ];
  }

  // Ideas

  function renderIdeas() {
    return [
      panel("待评审创意", async (reload) => {
        const page = await api("GET", "/ideas/review-queue", { query: { limit: 50 } });
        return table(
          [
            ["创意", (idea) => h("strong", { text: idea.title })],
            ["发起人", (idea) => idea.creator.display_name],
            ["支持", (idea) => count(idea.supporter_count)],
            ["状态", (idea) => IDEA_STATUS[idea.status] || idea.status],
            ["评审意见", (idea) => h("input", { class: "feedback", "data-idea": idea.id, placeholder: "给发起人的反馈" })],
            ["操作", (idea) => decisionButtons(idea, reload), "actions"],
          ],
          page.items,
          "没有待评审的创意",
        );
      }, "idea-queue"),
      panel("评审轮次", async (reload) => {
        const rounds = await api("GET", "/review-rounds", { query: { limit: 50 } });
        return table(
          [
            ["名称", (r) => r.name],
            ["截止", (r) => when(r.cutoff_at)],
            ["公布", (r) => when(r.results_at)],
            ["状态", (r) => (r.state === "open" ? "进行中" : "已公布")],
            ["操作", (r) => (r.state === "open"
              ? actionButton("公布结果", "primary", () => api("POST", `/review-rounds/${r.id}/publish`).then(reload))
              : "—"), "actions"],
          ],
          rounds.items,
          "还没有评审轮次",
        );
      }),
      panel("热门创意（累计支持者）", async () => {
        const top = await api("GET", "/ideas/top", { query: { limit: 10 } });
        // Supporters so far, day by day (at least the last two weeks), for the five leading ideas.
        const today = isoDay(new Date());
        const first = [isoDay(new Date(Date.now() - 13 * DAY)), ...top.items.flatMap((idea) => idea.velocity.map((p) => p.day))].sort()[0];
        const days = dayRange(first, today);
        const lines = top.items.slice(0, 5).map((idea, i) => {
          const byDay = Object.fromEntries(idea.velocity.map((p) => [p.day, p.supports]));
          let total = 0;
          const data = days.map((d) => (total += byDay[d] || 0));
          return { label: idea.title, data, borderColor: PALETTE[i], backgroundColor: PALETTE[i] };
        });
        return [
          h("div", { class: "toolbar" }, exportButtons("/ideas/top", { limit: 100 }, "top-ideas")),
          chartBox({ type: "line", data: { labels: days, datasets: lines } }, "supporters-over-time"),
          table(
            [
              ["创意", (d) => d.title],
              ["状态", (d) => IDEA_STATUS[d.status] || d.status],
              ["支持者", (d) => count(d.supporters)],
              ["认证支持者", (d) => count(d.verified_supporters)],
              ["意向购买（件）", (d) => count(d.would_buy_units)],
              ["心理价位中位数", (d) => yuan(d.median_price_cents)],
              ["近 7 天", (d) => count(d.supports_last_7_days)],
            ],
            top.items,
          ),
        ];
      }, "top-ideas"),
      panel("需求报告", async () => {
        const top = await api("GET", "/ideas/top", { query: { limit: 20 } });
        if (!top.items.length) return h("p", { class: "muted", text: "暂无创意" });
        const report = h("div");
        const pick = h("select", { name: "idea", onchange: () => showDemand(pick.value, report) },
          top.items.map((d) => h("option", { value: d.idea_id, text: d.title })));
        showDemand(top.items[0].idea_id, report);
        return [h("div", { class: "toolbar" }, "创意：", pick), report];
      }, "demand"),
    ];
  }

  function decisionButtons(idea, reload) {
    const decide = (decision) => () => {
      const input = document.querySelector(`input.feedback[data-idea="${idea.id}"]`);
      return api("POST", `/ideas/${idea.id}/decision`, { body: { decision, feedback: input ? input.value : "" } }).then(reload);
    };
    const buttons = [];
    if (idea.status === "qualified") buttons.push(actionButton("开始评审", "start-review", decide("start_review")));
    buttons.push(actionButton("通过", "ok approve", decide("approve")), actionButton("不通过", "warn reject", decide("not_approve")));
    return buttons;
  }

  async function showDemand(ideaId, into) {
    try {
      const d = await api("GET", `/ideas/${ideaId}/demand`);
      const bars = (distribution, label, color, format) => {
        const keys = Object.keys(distribution);
        return chartBox({
          type: "bar",
          data: { labels: keys.map(format), datasets: [{ label, data: keys.map((k) => distribution[k]), backgroundColor: color }] },
          options: { plugins: { legend: { display: false } } },
        }, label);
      };
      into.replaceChildren(
        figures([
          ["支持者", count(d.supporters)], ["认证支持者", count(d.verified_supporters)],
          ["意向购买件数", count(d.would_buy_units)], ["心理价位中位数", yuan(d.median_price_cents)],
        ]),
        h("div", { class: "grid" },
          h("div", {}, h("h3", { text: "意向购买件数分布" }), bars(d.would_buy_distribution, "人数", PALETTE[1], (k) => `${k} 件`)),
          h("div", {}, h("h3", { text: "心理价位分布" }), bars(d.price_distribution, "人数", PALETTE[0], (k) => k))),
      );
      startCharts(into);
    } catch (error) {
      into.replaceChildren(refusal(error));
    }
  }

  // Pre-sale

  function renderPresales() {
    return [
      panel("预售进度", async () => {
        const list = await api("GET", "/presales", { query: { limit: 50 } });
        if (!list.items.length) return h("p", { class: "muted", text: "暂无预售" });
        return list.items.map((c) => campaignCard(c));
      }, "presale-progress"),
      panel("支付异常", async (reload) => {
        const page = await api("GET", "/payments/anomalies", { query: { limit: 50 } });
        return table(
          [
            ["时间", (a) => when(a.received_at)],
            ["类型", (a) => a.outcome],
            ["订单", (a) => (a.order_id ? `#${a.order_id}` : "—")],
            ["金额", (a) => yuan(a.amount_cents)],
            ["处理", (a) => (a.resolved_at ? `已处理：${a.resolution}` : [
              h("input", { class: "resolution", "data-anomaly": a.id, placeholder: "处理说明" }),
              actionButton("标记已处理", "primary", () => api("POST", `/payments/anomalies/${a.id}/resolve`, {
                body: { resolution: document.querySelector(`input.resolution[data-anomaly="${a.id}"]`).value },
              }).then(reload)),
            ]), "actions"],
          ],
          page.items,
          "没有支付异常",
        );
      }),
    ];
  }

  function campaignCard(c) {
    const goal = Math.max(c.moq, 1);
    const share = (n) => `${Math.min(100, Math.round((n / goal) * 100))}%`;
    const manifest = h("div", { class: "manifest" }, h("p", { class: "muted", text: "加载 SKU 与地区数据…" }));
    api("GET", `/presales/${c.id}/manifest`, { query: { format: "json" } })
      .then((m) => manifest.replaceChildren(
        h("p", {}, `尾款已付（已确认）：${count(m.total_units)} 件`),
        h("div", { class: "grid" },
          h("div", {}, h("h3", { text: "按 SKU" }), table([["SKU", (s) => s.sku], ["名称", (s) => s.name], ["件数", (s) => count(s.units)], ["订单", (s) => count(s.orders)]], m.by_sku, "尚无确认订单")),
          h("div", {}, h("h3", { text: "按地区" }), table([["地区", (r) => r.region || "—"], ["件数", (r) => count(r.units)]], m.by_region, "尚无确认订单")))))
      .catch((error) => manifest.replaceChildren(error.status === 409
        ? h("p", { class: "muted", text: "预售成团后，这里列出已付清订单的 SKU 与地区分布，并可导出生产清单与发货单。" })
        : refusal(error)));
    return h("div", { class: "campaign", "data-campaign": c.id },
      h("h3", { text: `${c.title}（${PRESALE_STATUS[c.status] || c.status}）` }),
      figures([
        ["起订量 MOQ", count(c.moq)], ["库存上限", c.stock_cap ? count(c.stock_cap) : "不限"],
        ["已预订", count(c.reserved_quantity)], ["已付款", count(c.paid_quantity)],
        ["单价", yuan(c.unit_price_cents)], ["定金", yuan(c.deposit_cents)],
      ]),
      h("div", {}, `预订进度 ${share(c.reserved_quantity)}`), h("div", { class: "bar" }, h("span", { width: share(c.reserved_quantity) })),
      h("div", {}, `付款进度 ${share(c.paid_quantity)}`), h("div", { class: "bar paid" }, h("span", { width: share(c.paid_quantity) })),
      table([["SKU", (o) => o.sku], ["名称", (o) => o.name], ["价格", (o) => yuan(o.price_cents || c.unit_price_cents)], ["上限", (o) => (o.stock_cap ? count(o.stock_cap) : "—")], ["已预订", (o) => count(o.reserved_quantity)]], c.options || []),
      manifest,
      h("div", { class: "toolbar" },
        exportButtons(`/presales/${c.id}/manifest`, {}, `manifest-${c.id}`),
        h("span", { class: "muted", text: "发货单：" }),
        exportButtons(`/presales/${c.id}/shipping`, {}, `shipping-${c.id}`)),
    );
  }

  // Operations

  function renderOperations() {
    const stats = api("GET", "/ops/stats", { query: { days: 30 } });
    return [
      panel("积分经济健康（近 30 天）", async () => {
        const s = await stats;
        const p = s.points;
        return [
          figures([
            ["发放积分", count(p.issued)], ["消耗积分", count(p.spent)], ["净发放", count(p.net_issued)],
            ["通胀比（发放/消耗）", p.inflation_ratio === null ? "—" : p.inflation_ratio], ["成员积分余额", count(p.outstanding_balance)],
          ]),
          chartBox({
            type: "line",
            data: {
              labels: s.points_per_day.map((d) => d.day),
              datasets: [
                { label: "发放", data: s.points_per_day.map((d) => d.issued), borderColor: PALETTE[0], backgroundColor: PALETTE[0] },
                { label: "消耗", data: s.points_per_day.map((d) => d.spent), borderColor: PALETTE[1], backgroundColor: PALETTE[1] },
              ],
            },
          }, "points-per-day"),
        ];
      }, "economy"),
      panel("活跃度分层", async () => {
        const s = await stats;
        const tiers = Object.keys(s.tiers);
        return h("div", { class: "grid" },
          chartBox({
            type: "doughnut",
            data: { labels: tiers.map((t) => TIER[t] || t), datasets: [{ data: tiers.map((t) => s.tiers[t]), backgroundColor: PALETTE }] },
          }, "tiers"),
          table([["分层", (t) => TIER[t] || t], ["成员", (t) => count(s.tiers[t])]], tiers));
      }, "tiers"),
      panel("成员分群", async () => segmentsForm(), "segments"),
      panel("体验官活动", async () => {
        const list = await api("GET", "/campaigns", { query: { limit: 50 } });
        if (!list.items.length) return h("p", { class: "muted", text: "暂无体验官活动" });
        const detail = h("div");
        const pick = h("select", { name: "campaign", onchange: () => showCampaign(pick.value, detail) },
          list.items.map((c) => h("option", { value: c.id, text: `${c.title}（${c.status}）` })));
        showCampaign(list.items[0].id, detail);
        return [h("div", { class: "toolbar" }, "活动：", pick), detail];
      }, "officers"),
    ];
  }

  function segmentsForm() {
    const tier = h("select", { name: "tier" }, h("option", { value: "", text: "全部分层" }),
      Object.entries(TIER).map(([value, label]) => h("option", { value, text: label })));
    const level = h("input", { type: "number", min: "1", max: "10", placeholder: "最低等级", name: "min_level" });
    const tag = h("input", { placeholder: "兴趣标签", name: "tag" });
    const results = h("div");
    const filters = () => ({ tier: tier.value, min_level: level.value, tag: tag.value });
    const search = async () => {
      try {
        const page = await api("GET", "/segments", { query: { ...filters(), limit: 50 } });
        results.replaceChildren(table(
          [["ID", (m) => m.id], ["用户名", (m) => m.username], ["昵称", (m) => m.display_name], ["等级", (m) => m.level], ["地区", (m) => m.region || "—"]],
          page.items, "没有符合条件的成员"));
      } catch (error) {
        results.replaceChildren(refusal(error));
      }
    };
    search();
    return [
      h("div", { class: "toolbar" }, tier, level, tag, h("button", { type: "button", class: "primary", text: "筛选", onclick: search }),
        h("span", { class: "muted", text: "导出：" }),
        exportButtons("/segments", filters, "segment", "")),
      results,
    ];
  }

  // How many a page shows: "100+" when the list goes on beyond it.
  const shown = (page) => `${page.items.length}${page.next_cursor ? "+" : ""}`;

  async function showCampaign(campaignId, into) {
    try {
      const [applications, shares] = await Promise.all([
        api("GET", `/campaigns/${campaignId}/applications`, { query: { limit: 100 } }),
        api("GET", `/campaigns/${campaignId}/shares`, { query: { limit: 100 } }),
      ]);
      const reload = () => showCampaign(campaignId, into);
      into.replaceChildren(
        h("h3", { text: `报名（${shown(applications)}）` }),
        table([["成员", (a) => `#${a.user_id}`], ["状态", (a) => a.status], ["打卡次数", (a) => count(a.checkin_count)], ["报名时间", (a) => when(a.created_at)]],
          applications.items, "暂无报名"),
        h("div", { class: "toolbar" }, actionButton("抽选体验官", "primary draw", () => api("POST", `/campaigns/${campaignId}/select`, { body: { user_ids: [] } }).then(reload))),
        h("h3", { text: `体验分享（${shown(shares)}）` }),
        table([
          ["成员", (s) => `#${s.user_id}`], ["链接", (s) => s.url], ["状态", (s) => s.status],
          ["审核", (s) => (s.status === "pending" ? [
            actionButton("通过", "ok", () => api("POST", `/shares/${s.id}/review`, { body: { decision: "approve" } }).then(reload)),
            actionButton("驳回", "warn", () => api("POST", `/shares/${s.id}/review`, { body: { decision: "reject" } }).then(reload)),
          ] : "—"), "actions"],
        ], shares.items, "暂无分享"),
      );
    } catch (error) {
      into.replaceChildren(refusal(error));
    }
  }

  // Session and routing

  function route() {
    if (!session.access) return;
    const name = (location.hash.replace(/^#\//, "") || "moderation").split("?")[0];
    const render = PAGES[name] || PAGES.moderation;
    for (const chart of charts) chart.destroy();
    charts = [];
    for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("active", link.dataset.page === name);
    const page = $("page");
    page.dataset.page = name;
    page.replaceChildren(...render());
  }

  function signedIn(tokens) {
    session.access = tokens.access_token;
    session.refresh = tokens.refresh_token;
    session.me = tokens.user;
    $("sign-in").hidden = true;
    $("nav").hidden = $("who").hidden = $("page").hidden = false;
    $("who-name").textContent = `${session.me.display_name}（${ROLE[session.me.role] || session.me.role}）`;
    route();
  }

  function signedOut(message) {
    session.access = session.refresh = session.me = null;
    for (const chart of charts) chart.destroy();
    charts = [];
    $("page").replaceChildren();
    $("nav").hidden = $("who").hidden = $("page").hidden = true;
    $("sign-in").hidden = false;
    const error = $("sign-in-error");
    error.hidden = !message;
    error.textContent = message || "";
  }

  async function signIn(event) {
    event.preventDefault();
    const button = $("sign-in-button");
    button.disabled = true;
    try {
      const tokens = await api("POST", "/auth/login", { body: { username: $("username").value, password: $("password").value } });
      $("password").value = "";
      if (!STAFF.includes(tokens.user.role)) {
        // End the session just opened: a member's token has no business in the console.
        await api("POST", "/auth/logout", { token: tokens.access_token }).catch(() => null);
        signedOut("该账号不是工作人员，无法进入控制台。");
        return;
      }
      signedIn(tokens);
    } catch (error) {
      signedOut(error.message);
    } finally {
      button.disabled = false;
    }
  }

  async function signOut() {
    await api("POST", "/auth/logout").catch(() => null);
    signedOut("已退出登录。");
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    window.addEventListener("hashchange", route);
  });
})();

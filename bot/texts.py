"""Every user-facing Chinese text of the bot, in one place. Plain words a villager understands."""

from __future__ import annotations

# --- start, help, village -------------------------------------------------------------------
WELCOME = (
    "您好！我是{town}的法律咨询小助手。\n"
    "我能解答宅基地、土地、借钱、工钱、婚姻、继承、交通事故、诈骗、邻里纠纷等常见法律问题，"
    "并告诉您法律依据和该找谁办。\n"
    "我给的是法律常识，不是律师对您案子的意见；遇到紧急情况请马上打 110。"
)
PRIVACY_NOTE = (
    "说明：为了回答和转交法律顾问，我们会记录您发来的问题和所在村，保存 {days} 天后自动匿名化。"
    "发送 /mydata 可查看记录，发送 /forget 可删除。"
)
ASK_VILLAGE = "请选择您住在哪个村："
VILLAGE_SET = (
    "好的，已记下您是{village}的。现在可以直接打字问问题了，比如：“邻居盖房占了我家宅基地怎么办”。"
)
VILLAGE_UNKNOWN = "没有找到这个村，请从下面选择："
NO_VILLAGES = "现在还没有配置村庄，请联系镇司法所。"
HELP = (
    "直接打字说出您的问题就行，说得越具体越好，比如：“老板欠了三个月工钱不给怎么办”。\n"
    "想找人：打“找法律顾问”；想换个问题：打“重新问”。\n"
    "常用命令：\n"
    "/topics 按主题看常见问题\n"
    "/village 换村\n"
    "/elder 大字简短模式（再发一次关闭）\n"
    "/subscribe 订阅普法消息  /unsubscribe 退订\n"
    "/mydata 查看我的记录  /forget 删除我的记录\n"
    "这些也可以直接打字：帮助、常见问题、换村、我的记录、删除我的记录、退订。\n"
    "不会打字可以直接拨打 12348 公共法律服务热线。紧急情况请打 110。"
)
BUTTON_ELDER = "👴 长辈模式（简短回答）"
# The villager commands, in menu order: name -> what the messenger's command menu says.
COMMAND_MENU = {
    "start": "开始 / 选择村",
    "help": "怎么用",
    "topics": "按主题看常见问题",
    "village": "更换所在村",
    "elder": "长辈模式（简短回答）",
    "subscribe": "订阅普法消息",
    "unsubscribe": "退订普法消息",
    "mydata": "查看我的记录",
    "forget": "删除我的记录",
}

# --- answers ----------------------------------------------------------------------------------
ANSWER_BASIS = "依据：{citations}"
ANSWER_NEXT = "下一步：{next_steps}"
ANSWER_DISCLAIMER = "（以上是法律常识，具体情况不同，拿不准可以点“找法律顾问”。）"
BUTTON_HELPFUL = "👍有帮助"
BUTTON_NOT_HELPFUL = "👎没帮助"
BUTTON_LAW = "📖查看法条"
BUTTON_ADVISOR = "找法律顾问"
BUTTON_MORE = "更多"
SUGGEST_INTRO = "您是不是想问："
SUGGEST_NUMBERED_HINT = "请回复数字 1、2、3 选择；都不是请回复 0。"
BUTTON_NONE_OF_THESE = "都不是，转给法律顾问"
CONFIRM_INTRO = "我理解您问的是：「{question}」"
CONFIRM_NOT_THIS = "不是这个？您可能想问："
CONFIRM_NUMBERED_HINT = "回复数字 1、2 看这两个问题；都不是请回复 0，转给法律顾问。"
NOT_THIS_ALTERNATIVES = "好的，那您是不是想问下面这些？"
CLOSING = "不客气！还有别的问题，随时打字问我；着急可以拨打 12348。"
CLARIFY = (
    "您能再说详细一点吗？比如发生了什么事、和谁有纠纷、您想知道什么。\n"
    "例如：“邻居盖房子占了我家宅基地，该找谁？”"
)
CHOICE_EXPIRED = "这个选项已经过期了，请重新打字提问。"

# --- escalation ---------------------------------------------------------------------------------
GUIDANCE = "一般来说：{guidance}"
ESCALATED = (
    "这个问题我不能准确回答，已经转给{village}法律顾问{advisor}，"
    "一般{hours}小时内会在这里回复您。着急的话也可以拨打 12348 公共法律服务热线。"
)
ESCALATED_NO_VILLAGE = "这个问题需要转给法律顾问。请先告诉我您住在哪个村，我马上转过去："
ESCALATED_AGAIN = "您的问题已经转给法律顾问了，请耐心等一等，有回复会在这里通知您。"

# --- urgent -------------------------------------------------------------------------------------
URGENT_HEAD = "⚠️ 如果您现在有危险，请马上拨打："
URGENT_NUMBERS = {
    "110": "110 报警",
    "120": "120 急救",
    "119": "119 火警",
    "12338": "12338 妇女维权热线",
    "12355": "12355 青少年服务热线",
    "12356": "12356 心理援助热线",
    "96110": "96110 反诈专线",
}
URGENT_TAIL = "我已经把您的情况紧急转给{village}法律顾问和镇司法所，他们会尽快联系您。"
URGENT_TAIL_NO_VILLAGE = "我已经把您的情况紧急转给镇司法所，他们会尽快联系您。"

# --- feedback -----------------------------------------------------------------------------------
THANKS_HELPFUL = "谢谢您的反馈！还有问题随时问我。"
ASK_REASON = "抱歉没帮上忙。能告诉我是哪里不好吗？（可以不选）"
REASONS = {
    "unclear": "没看懂",
    "wrong_question": "不是我问的",
    "wrong": "答案不对",
    "other": "其他",
}
THANKS_REASON = "收到，谢谢！我们会改进。需要的话可以点“找法律顾问”。"

# --- browsing -----------------------------------------------------------------------------------
TOPICS_INTRO = "请选择一个主题："
TOPIC_INTRO = "“{topic}”常见问题："
TOPIC_UNKNOWN = "没有这个主题，请发送 /topics 重新选择。"

# --- other input --------------------------------------------------------------------------------
UNSUPPORTED = {
    "voice": "我还听不懂语音，请打字问我，或直接拨打 12348 公共法律服务热线。",
    "photo": "我看不懂图片，请用文字说一下您的问题。需要给法律顾问看材料，可以先说问题，转给顾问后再商量。",
    "sticker": "收到您的表情啦😊 有法律问题请直接打字问我。",
    "document": "我打不开文件，请用文字说一下您的问题。",
    "location": "收到位置了。有法律问题请直接打字问我。",
    "video": "我看不了视频，请用文字说一下您的问题，或拨打 12348。",
    "contact": "收到名片了。有法律问题请直接打字问我。",
    "other": "这类消息我看不懂，请打字说说您的问题。",
}
SLOW_DOWN = "您发得有点快，我都记下了，会按顺序一条一条回您，请稍等一会儿，不用重发。"
EMPTY = "请打字说说您的问题，比如：“欠条怎么写才有效？”"
TOO_LONG_NOTE = "（您的消息很长，我先看了前面的部分。）"

# --- elder mode, subscriptions, privacy -------------------------------------------------------
ELDER_ON = "已打开长辈模式：回答会简短一些，选项可以直接回复数字。再发 /elder 可以关闭。"
ELDER_OFF = "已关闭长辈模式，回答会完整显示。"
SUBSCRIBED = "已订阅普法消息，逢普法日会给您发简短提醒。不想收可以发 /unsubscribe。"
UNSUBSCRIBED = "已退订普法消息。想再收到可以发 /subscribe。"
MYDATA = (
    "我们保存的您的信息：\n"
    "所在村：{village}\n"
    "咨询记录：{consultations} 条\n"
    "评价：{feedback} 条\n"
    "转法律顾问：{escalations} 次\n"
    "普法消息：{subscribed}\n"
    "长辈模式：{elder}\n"
    "发送 /forget 可删除这些记录（统计数字会保留，但不再和您有关）。"
)
FORGET_CONFIRM = "确定要删除您的所有咨询记录吗？删除后无法恢复。"
BUTTON_FORGET_YES = "确定删除"
BUTTON_FORGET_NO = "不删了"
ESCALATION_FORGOTTEN = "第 {id} 号求助已关闭：村民要求删除自己的记录，内容已清除，无需再回复。"
FORGOTTEN = "已删除您的 {count} 条咨询内容和个人设置。以后再来问也欢迎。"
FORGET_CANCELLED = "好的，没有删除。"
YES = "是"
NO = "否"
NOT_SET = "未选择"

# --- errors -------------------------------------------------------------------------------------
BUSY = "系统繁忙，请稍后再试。紧急情况请拨打 110，法律问题也可拨打 12348。"
UNKNOWN_COMMAND = "没有这个命令。直接打字提问就行，发送 /help 查看用法。"

# --- law text -----------------------------------------------------------------------------------
LAW_TEXT = "《{law}》{article}\n{text}"
LAW_UNAVAILABLE = "暂时查不到这条法条的原文。"

# --- console ------------------------------------------------------------------------------------
CONSOLE_DECODED_GBK = "（您这条消息是 GBK 编码，我已经转换过来了。）"
CONSOLE_UNREADABLE = "（您这条消息里有些字我认不出来，已用 � 代替；如果意思不对，请重新打一遍。）"
CONSOLE_BANNER = (
    "乡村法律咨询（终端版）。直接输入问题，输入数字选择选项，输入 /help 查看命令，/quit 退出。"
)
CONSOLE_BYE = "再见！有问题随时来问。"

# --- advisors -----------------------------------------------------------------------------------
CARD_HEAD = "📋 咨询 #{id}｜{village}{urgent}"
CARD_URGENT = "｜⚠️紧急"
CARD_VILLAGER = "村民：{label}{phone}"
CARD_QUESTION = "问题：{question}"
CARD_GUESSES = "机器人猜测："
CARD_NO_GUESS = "机器人猜测：无"
CARD_HISTORY = "最近咨询："
CARD_HOWTO = "直接回复这条消息即可答复村民，或发送 /reply {id} 回复内容。"
CARD_URGENT_UNCLAIMED = (
    "🚨 紧急求助已过 {minutes} 分钟还没有人认领，请马上处理：给村民打电话，必要时报警（110）。"
)
CARD_REASSIGNED = "（超时未处理，已从{source}转来）"
BUTTON_CLAIM = "认领"
BUTTON_REPLY = "回复"
BUTTON_CALL = "需电话联系"
BUTTON_OFFICE = "转给镇司法所"
BUTTON_DRAFT = "作为新问答草稿"
REPLY_PROMPT = "请直接回复咨询 #{id} 的卡片消息，或发送：/reply {id} 您的答复"
CLAIMED = "已认领咨询 #{id}，请尽快答复。"
CLAIMED_BY_OTHER = "咨询 #{id} 已被{who}认领。"
ALREADY_DONE = "咨询 #{id} 已经处理完了。"
REPLY_SENT = "已把答复发给村民（咨询 #{id}）。"
REPLY_EMPTY = "答复内容不能为空：/reply {id} 您的答复"
REPLY_USAGE = "用法：/reply 咨询编号 答复内容，例如 /reply 12 请带上欠条来村委会找我。"
NOT_YOURS = "这条咨询不归您处理。"
NO_SUCH_ESCALATION = "没有找到咨询 #{id}。"
ADVISOR_ONLY = "这个命令只有法律顾问能用。有法律问题请直接打字问我。"
STAFF_ONLY = "这个命令只有司法所工作人员能用。"
REMINDER = "⏰ 提醒：咨询 #{id}（{village}）已等了 {hours} 小时，请尽快答复。"
REASSIGNED_AWAY = "咨询 #{id} 超时未答复，已转给{target}。"
TRANSFERRED = "咨询 #{id} 已转给{office}。"
CALL_REQUESTED = "已请村民同意提供电话号码，同意后会发给您。"
CALL_CONSENT = "{advisor}想打电话和您详细了解情况。您愿意把电话号码告诉顾问吗？（只给这位顾问看）"
BUTTON_PHONE_YES = "同意，发送我的电话"
BUTTON_PHONE_NO = "不用了"
SEND_CONTACT = "请点下面的“📞 发送我的电话”按钮。"
TYPE_PHONE = "请直接打字发您的手机号（11 位数字），我会只转给您的法律顾问。"
BUTTON_SEND_CONTACT = "📞 发送我的电话"
PHONE_THANKS = "谢谢，已把电话转给法律顾问，请留意来电。"
PHONE_DECLINED = "好的，不提供电话。顾问会在这里文字答复您。"
PHONE_FOR_ADVISOR = "咨询 #{id}：村民同意提供电话：{phone}"
DRAFT_SAVED = "已保存为问答草稿 #{draft}，等司法所审核后上线。"
DRAFT_NEEDS_ANSWER = "请先答复村民，再把这条咨询存为问答草稿。"
DONE = "咨询 #{id} 已办结。"
DONE_USAGE = "用法：/done 咨询编号"
QUEUE_EMPTY = "目前没有待处理的咨询。"
QUEUE_HEAD = "待处理咨询（最早的在前）："
OVERVIEW_HEAD = "全镇待处理的求助共 {count} 件（最早的在前）："
QUEUE_LINE = "#{id} {village} {age} {state}{urgent}：{question}"
MINE_HEAD = "我认领和负责的咨询："
STATS_ME = (
    "我的统计：共 {total} 条，已答复 {answered} 条，办结 {closed} 条；首次答复中位时长 {median}。"
)
STATE_NAMES = {
    "open": "待认领",
    "claimed": "已认领",
    "answered": "已答复",
    "closed": "已办结",
    "reassigned": "已转办",
}

# --- villager side of an escalation -------------------------------------------------------------
ADVISOR_ANSWER = "【{title}答复】\n{text}"
BUTTON_ADVISOR_GOOD = "👍满意"
BUTTON_ADVISOR_BAD = "👎不满意"
BUTTON_NEW_QUESTION = "问新问题"
THREAD_ALSO_SENT = "这条也转给了法律顾问，顾问会一起看。上面是相近的常见问题，您可以先看看；如果是另一件事，请点“问新问题”。"
FOLLOW_UP_SENT = (
    "已把您的话转给法律顾问，有答复会在这里告诉您。如果是另一个新问题，请点“问新问题”。"
)
NEW_QUESTION = "好的，请直接打字说您的新问题。"
ADVISOR_FEEDBACK_THANKS = "谢谢您的评价！"
THREAD_STILL_OPEN = (
    "上面是问答库里的答案。您之前转给法律顾问的问题还在处理，顾问回复了会在这里通知您。"
)
FOLLOW_UP_FOR_ADVISOR = "💬 咨询 #{id} 村民追问：{text}"

# --- staff: drafts ------------------------------------------------------------------------------
DRAFTS_EMPTY = "没有待审核的问答草稿。"
DRAFTS_HEAD = "待审核的问答草稿（用 lawbot kb drafts edit 补充问法和法条后，发 /approve 编号 上线，/reject 编号 理由 不采用）："
DRAFT_LINE = "#{id} [{kind}·{topic}] {question}"
DRAFT_KINDS = {"entry": "新问答", "variant": "新问法", "not_for": "不是这条"}
DRAFT_USAGE = "用法：/approve 草稿编号，或 /reject 草稿编号 理由"
DRAFT_APPROVED = "草稿 #{id} 已上线为问答 {entry}，机器人已重新加载知识库。"
DRAFT_REJECTED = "草稿 #{id} 已标记为不采用，理由已保存。"

# --- staff: statistics and ledger ---------------------------------------------------------------
STATS_STAFF_ONLY = "抱歉，统计和台账只对镇司法所和镇政府工作人员开放。如需查看，请联系司法所。"
STATS_HEADER = "📊 {town}法律咨询统计"
STATS_LINE = (
    "{label}（{period}）：咨询{questions}人次，机器人解答{answered}（解答率{match}），"
    "转法律顾问{escalated}件，已答复{replied}件，超时{overdue}件；"
    "首次答复中位{first}；满意率：机器人{faq}，顾问{advisor}。"
)
STATS_VILLAGE_LINE = (
    "{label}（{period}）{village}：咨询{questions}人次（{villagers}人），"
    "机器人解答{answered}（解答率{match}），转法律顾问{escalated}件，超时{overdue}件，"
    "首次答复中位{first}，顾问满意率{advisor}。"
)
STATS_THIS_MONTH = "本月"
STATS_LAST_MONTH = "上月"
STATS_UNKNOWN_VILLAGE = "没有找到“{name}”。可用的村：{villages}"
GAPS_HEADER = "🔍 本月机器人没答上的问题（相近的合并，可据此补充知识库）："
GAPS_LINE = "{rank}. {text}（{count}次）"
GAPS_NONE = "本月没有未解答的问题。"
LEDGER_CAPTION = "{town}法律咨询台账（{period}）"
LEDGER_BUSY = "正在生成本月台账，请稍候……"
NOT_AVAILABLE = "—"
STATS_PRIVATE_ONLY = "统计和台账请在与机器人的私聊里查看。"

# --- publicity pushes (campaigns) ---------------------------------------------------------------
CAMPAIGN_BUTTON_USEFUL = "👍有用"
CAMPAIGN_BUTTON_UNSUBSCRIBE = "退订"
CAMPAIGN_PUSH_FOOTER = "\n\n（{town}普法推送。不想再收到，点下面的“退订”或发送 /unsubscribe。）"
CAMPAIGN_BROADCAST_HEADER = "📢 {town}通知\n\n"

CAMPAIGN_THANKS_USEFUL = "谢谢您的反馈！"
CAMPAIGN_UNSUBSCRIBED = "已为您退订普法推送，以后不会再收到。想重新订阅，随时发送 /subscribe。"
CAMPAIGN_ALREADY_DONE = "已经收到啦。"
CAMPAIGN_CLICK_UNKNOWN = "这条消息已过期。"

CAMPAIGN_STAFF_ONLY = (
    "抱歉，推送管理只对镇司法所和镇政府工作人员开放。如需发送通知，请联系司法所。"
)
CAMPAIGN_PRIVATE_ONLY = "推送管理请在与机器人的私聊里操作。"
CAMPAIGN_NO_CAMPAIGNS = "还没有配置普法推送计划（配置文件里的 [[campaigns.schedule]]）。"
CAMPAIGN_UPCOMING_HEADER = "📅 接下来的普法推送："
CAMPAIGN_UPCOMING_LINE = "{when}  {key}\n    {title}（{audience}，约{size}人）"
CAMPAIGN_UPCOMING_CANCELLED = "（已取消）"
CAMPAIGN_AUDIENCE_ALL = "全部订阅村民"
CAMPAIGN_UNKNOWN_PUSH = "没有找到推送“{key}”。发送 /campaigns 查看推送编号。"
CAMPAIGN_PUSH_USAGE = "用法：/{command} 推送编号，例如 /{command} constitution_day.week"
CAMPAIGN_PREVIEW_HEADER = (
    "【预览，仅发给您】{key} 计划于 {when} 推送给{audience}（约{size}人）：\n\n"
)
CAMPAIGN_SEND_STARTED = "开始推送 {key}，共{size}人。完成后告诉您结果。"
CAMPAIGN_SEND_DONE = "推送 {key} 完成：发出{sent}，失败{failed}，已屏蔽{blocked}，跳过{skipped}。"
CAMPAIGN_ALREADY_SENT = "推送 {key}（{day}）已经发过或已取消，不会重复发送。"
CAMPAIGN_CANCELLED = "已取消 {key}（{when}）这一次推送。"
CAMPAIGN_CANCEL_TOO_LATE = "推送 {key}（{day}）已经开始或发完，无法取消。"

CAMPAIGN_BROADCAST_USAGE = "用法：/broadcast 通知内容"
CAMPAIGN_BROADCAST_CONFIRM = "请确认通知内容和发送对象：\n\n{text}\n\n发给谁？"
CAMPAIGN_BROADCAST_ALL = "全部订阅村民（{size}人）"
CAMPAIGN_BROADCAST_CANCEL = "取消"
CAMPAIGN_BROADCAST_CANCELLED = "已取消，这条通知没有发送。"
CAMPAIGN_BROADCAST_EXPIRED = "这条通知已确认过或已过期，请重新发送 /broadcast。"
CAMPAIGN_BROADCAST_STARTED = "开始发送通知给{audience}，共{size}人。"

# --- e-mail copies of notices ([notify]) -------------------------------------------------------
EMAIL_SUBJECT = "村法律咨询通知"
EMAIL_FOOTER = (
    "\n\n——\n这是法律咨询机器人的邮件提醒。请在 Telegram、网页控制台或命令行"
    "（lawbot advisor queue）里认领和答复，回复这封邮件不会转给村民。"
)

# --- WeChat Official Account channel (bot/channels/wechat) --------------------------------------
WECHAT_MENU_CONSULT = "咨询"
WECHAT_MENU_LEARN = "普法"
WECHAT_MENU_ADVISOR = "找法律顾问"
# Typed to reach the advisor; it must stay one of `replies.PERSON_REQUESTS` (the service's words).
WECHAT_ADVISOR_KEYWORD = "找法律顾问"
WECHAT_ADVISOR_HINT = "要找法律顾问，请回复“找法律顾问”。"
WECHAT_CHOICE_HINT = "请回复前面的数字选择。"
WECHAT_LATE_ANSWER_NOTE = "（下面是法律顾问之前给您的答复，当时没能及时送到，现在补发给您。）"

# --- mobile web chat (bot/channels/web) ---------------------------------------------------------
WEB_TITLE = "{town}法律咨询"
WEB_INTRO = "您好！有法律方面的问题，直接在下面打字问我，比如“宅基地可以继承吗”。"
WEB_VILLAGE_NOTE = "您所在的村：{village}"
WEB_PLACEHOLDER = "在这里输入您的问题"
WEB_SEND = "发送"
WEB_SENDING = "正在发送…"
WEB_BIG_TEXT = "大字"
WEB_MENU_LABEL = "更多功能"
# Menu links: label -> the text the page sends (a command, or words the service understands).
# "找法律顾问" must stay one of `replies.PERSON_REQUESTS`.
WEB_MENU = {
    "怎么用": "/help",
    "按主题看": "/topics",
    "找法律顾问": "找法律顾问",
    "长辈模式": "/elder",
    "我的记录": "/mydata",
    "删除我的信息": "/forget",
}
WEB_NOSCRIPT = "这个页面需要打开浏览器的 JavaScript 功能才能使用。"
WEB_CLEARED = "这台手机上的聊天记录也已经清除了。"
WEB_ERRORS = {
    "empty": "消息是空的，请先输入您的问题再发送。",
    "too_long": "消息太长了，最多 {limit} 个字。请分几条发送。",
    "bad_request": "页面发来的内容不对，请刷新页面后再试。",
    "unknown_village": "二维码里的村不对，请重新扫码或直接提问。",
    "no_device": "页面已过期，请刷新页面后再发送。",
    "forbidden": "这个请求不是从本页面发出的，已拒绝。",
    "rate_limited": "发得太快了，请 {seconds} 秒后再试。",
    "duplicate": "这条消息之前已经处理过了。请重新输入后再发送。",
    "network": "网络不通，消息没有发出去。请检查网络后再点“发送”。",
    "unavailable": "服务暂时不可用，请过一会儿再试。",
    "internal": "出错了，请过一会儿再试。",
}

# --- staff web console (/console) ----------------------------------------------------------------
CONSOLE_WRONG_PASSWORD = "用户名或密码不对。连续输错 5 次，账号会锁定 15 分钟。"
CONSOLE_LOCKED = "输错次数太多，账号已锁定 15 分钟。请稍后再试，或请管理员重设密码。"
CONSOLE_DISABLED = "这个账号已停用，请联系管理员。"
CONSOLE_TOO_MANY = "登录尝试太频繁，请一分钟后再试。"
CONSOLE_SESSION_EXPIRED = "登录已过期，请重新登录。"
CONSOLE_NO_ADVISOR_ID = "您的账号还没有对应的法律顾问编号，不能答复。请管理员填写。"
CONSOLE_EMPTY_REPLY = "答复内容不能为空。"
CONSOLE_DRAFT_CREATED = "已存为草稿 #{id}，审核通过后生效。"
CONSOLE_DRAFT_SAVED = "草稿 #{id} 已保存。"
CONSOLE_USER_ADDED = "账号已新建。"
CONSOLE_USER_DISABLED = "账号已停用。"

# --- staff web console: publicity pushes (/console/campaigns) -----------------------------------
CONSOLE_CAMPAIGN_UNKNOWN = "没有找到这次推送（{key} {day}），请回到推送页重新选择。"
CONSOLE_CAMPAIGN_HANDLED = "{key}（{day}）已经发过、正在发送或已取消，不会重复发送。"
CONSOLE_CAMPAIGN_NO_SENDER = (
    "这个服务没有连接 Telegram 机器人（未设置 LAWBOT_TOKEN），不能从控制台发送推送。"
)
CONSOLE_CAMPAIGN_STARTED = "推送 {key} 已开始发送，共 {size} 人。刷新本页查看进度。"
CONSOLE_CAMPAIGN_CANCELLED = "已取消 {key}（{day}）这一次推送。"
CONSOLE_CAMPAIGN_CANCEL_TOO_LATE = "{key}（{day}）已经发完或已错过，取消不了。"

# --- WeChat: publicity pushes to followers -------------------------------------------------------
# A template message (outside WeChat's 48-hour window) has no numbered choices: the remark says how
# to leave; typing 退订 is understood by the service.
WECHAT_PUSH_TEMPLATE_TITLE = "{town}普法推送"
WECHAT_PUSH_TEMPLATE_REMARK = "不想再收到普法推送，请回复“退订”。"

"""Chat-template analysis: escape gadgets are critical, real-world templates stay clean, nothing renders."""
# ruff: noqa: E501 - real-world chat templates are quoted whole, as models ship them

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlvet.config import Settings
from mlvet.findings import Finding, Location, Problem, ProblemKind, Severity, Subject
from mlvet.scan import dispatch
from mlvet.scan.base import Collector, ScanContext
from mlvet.scan.templates.analysis import analyse_template

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA2 = (
    "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
    "{% set system_message = messages[0]['content'] %}{% else %}{% set loop_messages = messages %}"
    "{% set system_message = false %}{% endif %}{% for message in loop_messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if loop.index0 == 0 and system_message != false %}"
    "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}"
    "{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'assistant' %}"
    "{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"
)
LLAMA3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
LLAMA31_TOOLS = """{{- bos_token }}
{%- if custom_tools is defined %}{%- set tools = custom_tools %}{%- endif %}
{%- if not tools_in_user_message is defined %}{%- set tools_in_user_message = true %}{%- endif %}
{%- if not date_string is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- endif %}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\\n\\n"}}
{%- endif %}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim }}
    {%- elif 'tool_calls' in message %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}{{- ", " }}{%- endif %}
            {%- endfor %}
            {{- ")" }}
        {%- else %}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}
"""
MISTRAL = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}"
)
QWEN2_TOOLS = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}{{- messages[0]['content'] }}
    {%- else %}{{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}{%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n<tools>" }}
    {%- for tool in tools %}{{- "\\n" }}{{- tool | tojson }}{%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object within <tool_call></tool_call> XML tags:"
        "\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string
          and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set content = message.content %}
        {%- if '</think>' in content %}
            {%- set content = content.split('</think>')[-1].lstrip('\\n') %}
        {%- endif %}
        {{- '<|im_start|>' + message.role }}
        {%- if content %}{{- '\\n' + content }}{%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}{%- set tool_call = tool_call.function %}{%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}{{- tool_call.name }}{{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}{{- '}\\n</tool_call>' }}
        {%- endfor %}
        {% generation %}{{- '<|im_end|>\\n' }}{% endgeneration %}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}{{- '<|im_start|>user' }}{%- endif %}
        {{- '\\n<tool_response>\\n' }}{{- message.content }}{{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}{{- '<|im_end|>\\n' }}{%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}
"""
PHI3 = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}"
    "{{'<|user|>' + '\\n' + message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}"
    "{% elif (message['role'] == 'assistant') %}{{message['content'] + '<|end|>' + '\\n'}}{% endif %}{% endfor %}"
)
SELECTORS = (
    "{% set system = messages|selectattr('role', 'equalto', 'system')|map(attribute='content')|first %}"
    "{% for m in messages|rejectattr('role', 'equalto', 'system') %}{% if loop.index > 20 %}{% break %}{% endif %}"
    "{{ m['content'] }}{% endfor %}{% macro render(x) %}{{ x|tojson }}{% endmacro %}{{ render(system) }}"
)
MISTRAL_TOOLS = """{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}{%- set tools = none %}{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}
{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}{{- '"' + key + '": "' + val + '"' }}
                    {%- else %}{{- '"' + key + '": ' + val|tojson }}{%- endif %}
                    {%- if not loop.last %}{{- ", " }}{%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}{{- ", " }}{%- else %}{{- "]" }}{%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
        {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\\n\\n" + message["content"] + "[/INST]" }}
        {%- else %}{{- "[INST] " + message["content"] + "[/INST]" }}{%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}{{- ", " }}{%- else %}{{- "]" + eos_token }}{%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}{{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}{%- set content = message.content %}{%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}{{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
"""
DEEPSEEK_R1 = (
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
    "{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}"
    "{%- else %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}{%- endif %}{%- endfor %}"
    "{{ bos_token }}{{ ns.system_prompt }}{%- for message in messages %}{%- if message['role'] == 'user' %}"
    "{%- set ns.is_tool = false -%}{{'<｜User｜>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and message['content'] is not none %}{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<｜Assistant｜>' + content + '<｜end▁of▁sentence｜>'}}{%- endif %}{%- endfor -%}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<｜Assistant｜><think>\\n'}}{% endif %}"
)
COMMAND_R = (
    "{% macro render_doc(doc, index) %}Document: {{ index }}\\n{% for key, value in doc.items() %}"
    "{{ key | capitalize }}: {{ value }}\\n{% endfor %}{% endmacro %}"
    "{{ bos_token }}{% if documents %}<results>{% for d in documents %}{{ render_doc(d, loop.index0) }}"
    "{% endfor %}</results>{% endif %}{% for message in messages %}"
    "{{ '<|START_OF_TURN_TOKEN|><|' + message['role'] | upper + '_TOKEN|>' + message['content'] | trim"
    " + '<|END_OF_TURN_TOKEN|>' }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}"
)
REAL_TEMPLATES = {
    "chatml": CHATML,
    "llama2": LLAMA2,
    "llama3": LLAMA3,
    "llama3.1-tools": LLAMA31_TOOLS,
    "mistral": MISTRAL,
    "gemma": GEMMA,
    "qwen2-tools": QWEN2_TOOLS,
    "phi3": PHI3,
    "selectors": SELECTORS,
    "mistral-tools": MISTRAL_TOOLS,
    "deepseek-r1": DEEPSEEK_R1,
    "command-r": COMMAND_R,
}


def analyse(source: str) -> tuple[list[Finding], list[Problem]]:
    collector = Collector()
    context = ScanContext(Subject(path="t"), Settings(), collector, dispatch)
    analyse_template(source, context, where="chat_template", location=Location(pointer="/chat_template"))
    return collector.findings, collector.problems


def rules_at(findings: list[Finding], severity: Severity) -> set[str]:
    return {f.rule.id for f in findings if f.severity >= severity}


@pytest.mark.parametrize("name", sorted(REAL_TEMPLATES))
def test_real_world_templates_are_clean(name: str) -> None:
    findings, problems = analyse(REAL_TEMPLATES[name])
    assert [f.message for f in findings if f.severity >= Severity.MEDIUM] == []
    assert problems == []


ESCAPES = [
    "{{ cycler.__init__.__globals__.os.popen('true').read() }}",
    "{{ joiner.__init__.__globals__.os.system('true') }}",
    "{{ namespace.__init__.__globals__['os'].system('true') }}",
    "{{ lipsum.__globals__['os'].popen('true') }}",
    "{{ ''|attr('__class__')|attr('__mro__') }}",
    "{{ x['__cla' ~ 'ss__'] }}",
    "{% set u = '_' * 2 %}{{ x[u ~ 'class' ~ u] }}",
    "{{ self._TemplateReference__context.cycler }}",
    "{{ x|attr(['__', 'class', '__']|join) }}",
    "{{ x|attr('ssalc__'|reverse) }}",
    "{{ x|attr('%c%c%s%c%c' % (95, 95, 'class', 95, 95)) }}",
    "{{ messages|map(attribute='content.__class__')|list }}",
    "{{ '{0.__class__}'.format(x) }}",
    "{{ x.__class__.mro()[1] }}",
    "{% set ns = namespace() %}{% set ns.__dict__ = 1 %}",
    "{{ x['_' ~ '_globals_' ~ '_'] }}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_escape_gadgets_are_critical(source: str) -> None:
    findings, _ = analyse(source)
    critical = [f for f in findings if f.severity == Severity.CRITICAL]
    assert critical, findings
    assert {f.rule.id for f in critical} == {"MLV601"}
    assert critical[0].location == Location(pointer="/chat_template", line=1)


def test_classic_payload_message_names_the_gadgets() -> None:
    findings, _ = analyse("hello\n{{ cycler.__init__.__globals__.os.popen('true').read() }}")
    escape = next(f for f in findings if f.rule.id == "MLV601")
    assert escape.location.line == 2
    assert "__globals__" in escape.message and "__init__" in escape.message
    assert escape.evidence["snippet"].startswith("{{ cycler.__init__")


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{% include 'other.j2' %}", "include"),
        ("{% extends 'base.j2' %}", "extends"),
        ("{% import 'macros.j2' as m %}", "import"),
        ("{% from 'macros.j2' import x %}", "from ... import"),
        ("{{ config.items() }}", "config"),
        ("{{ request.args }}", "request"),
        ("{{ range(10000000)|list }}", "range"),
        ("{{ x|attr(name) }}", "attribute name"),
        ("{{ x|attr('content') }}", "attr"),
        ("{{ '{}'.format(x) }}", "str.format"),
        ("{{ 9 ** 99999 }}", "exhaust"),
    ],
)
def test_odd_constructs_are_medium(source: str, fragment: str) -> None:
    findings, _ = analyse(source)
    assert findings
    assert all(f.rule.id == "MLV602" and f.severity == Severity.MEDIUM for f in findings)
    assert any(fragment in f.message for f in findings)


def test_unparseable_template_is_medium_with_line() -> None:
    findings, problems = analyse("ok\n{% if %}")
    assert [(f.rule.id, f.severity, f.location.line) for f in findings] == [("MLV603", Severity.MEDIUM, 2)]
    assert problems == []


def test_variables_named_like_globals_are_fine_when_the_template_defines_them() -> None:
    findings, _ = analyse("{% set config = messages[0] %}{{ config['content'] }}")
    assert findings == []


def test_oversized_template_is_a_limit_problem() -> None:
    findings, problems = analyse("x" * 4_000_001)
    assert findings == []
    assert [p.kind for p in problems] == [ProblemKind.LIMIT]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            ["{{", "}}", "{%", "%}", "__", "'", "~", "|attr(", ")", "x", ".", "[", "]", " if ", "set "]
        )
        | st.text(max_size=8),
        max_size=40,
    )
)
def test_arbitrary_text_never_raises(parts: list[str]) -> None:
    findings, problems = analyse("".join(parts))
    assert all(f.rule.id.startswith("MLV60") for f in findings)
    assert all(p.kind != ProblemKind.INTERNAL for p in problems)

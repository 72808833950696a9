"""Words too common to show a user as "matched": English, German, French, Spanish, Portuguese,
Italian and Dutch function words, and the commonest Chinese, Japanese and Korean particles.

Display only. The sparse vectors keep every word: Qdrant's IDF already gives these almost no
weight, and dropping them from the index would lose phrases a user searches for on purpose
("to be or not to be", "The Who").

Words that are function words in one language but content words in another of these (English
"war", "hat", "bin", "man", "son", "come", "pour", "van", "era", "sin", "par", "men") are left
out: hiding a real match is worse than showing a common word.
"""

from __future__ import annotations

_ENGLISH = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not of off on once only or other our ours ourselves out over own
same she should so some such than that the their theirs them themselves then there these they
this those through to too under until up very was we were what when where which while who whom
why will with would you your yours yourself yourselves
"""
_GERMAN = """
aber alle allem allen aller alles als also am an auch auf aus bei beim bis da damit dann das
dass dein deine dem den denn der des dich die dies diese diesem diesen dieser dir doch dort du
durch ein eine einem einen einer eines er es etwas für gegen habe haben ich ihm ihn ihr ihre im
in ins ist ja jede jedem jeden jeder kann kein keine mich mir mit muss nach nicht noch nun nur ob
oder ohne sehr sein seine sich sie sind so über um und uns unser unter vom von vor wann was weil
wenn wer wie wir wird wo zu zum zur
"""
_FRENCH = """
à au aux avec ce ces cet cette dans de des du elle elles en est et été être il ils je la le les
leur leurs lui ma mais me même mes moi mon ne nos notre nous on ont ou où pas plus qu que qui sa
sans se ses sont sur ta te tes toi ton tu un une vos votre vous y
"""
_SPANISH = """
a al algo como con cuando de del donde el él ella ellas ellos en entre es esa ese eso esta está
este esto estos fue ha han hay la las le les lo los más me mi mis muy nada ni no nos o para pero
por porque qué que se ser si sí sobre su sus también te tiene todo tu un una uno unos unas y ya
yo
"""
_PORTUGUESE = """
à ao aos as até com como da das de dele dela do dos e é ela ele eles em entre essa esse esta
este eu foi foram isso isto já mais mas me mesmo meu minha muito na nas não nem no nos o os ou
para pela pelas pelo pelos por quando que quem se seu seus sua suas são também te tem um uma
você
"""
_ITALIAN = """
a ad al alla alle allo agli ai anche che chi ci con cui da dal dalla dei del della delle dello
di e è ed gli ha hanno i il in io la le lei lo loro lui ma mi mio ne nei nel nella non o per più
quale quando questa questo se si sono su sua sue suo sul sulla tra tu un una uno
"""
_DUTCH = """
aan al als bij dan dat de die dit door een en er had heb heeft het hij hoe ik in is je kan maar
me met mij na naar niet nog nu of om ons ook op over te tot uit voor was wat we wel werd wij zal
ze zich zij zijn zo
"""
# particles and copulas, written whole: a Chinese or Japanese run is indexed as single
# characters and pairs, so each of these is one of its terms
_CHINESE = """
的 了 是 在 和 与 及 或 着 过 吗 呢 吧 啊 之 其 也 就 都 而 把 被 这 那 个 一个 这个 那个 我们
你们 他们
"""
_JAPANESE = """
の は が を に で と も へ や か な だ て た し です ます から まで より こと これ それ この その
"""
_KOREAN = "은 는 이 가 을 를 에 의 와 과 도 로 으로 에서"

_LANGUAGES = (_ENGLISH, _GERMAN, _FRENCH, _SPANISH, _PORTUGUESE, _ITALIAN, _DUTCH, _CHINESE)
STOPWORDS: frozenset[str] = frozenset(
    word for words in (*_LANGUAGES, _JAPANESE, _KOREAN) for word in words.split()
)

# the particles that mostly stand between two words, so that a Chinese or Japanese pair holding
# one (猫的 in 猫的颜色) straddles a word boundary; fewer than the stopwords above, whose
# characters also begin or end real words (现在, 通过, 个人, なか); not Korean, whose spaces
# already end a word before its particle
PARTICLES: frozenset[str] = frozenset("的了是吗呢吧啊着のはがをにでともへ")

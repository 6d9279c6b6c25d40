<?php
// A file whose loading throws: every call of its functions fails as the first did.
function handler($event, $context)
{
    return 'never';
}

throw new LogicException('configuration is missing');

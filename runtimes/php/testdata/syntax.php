<?php
function handler($event, $context) {
    return 'unfinished'
}
